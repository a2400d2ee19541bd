"""The virtual clock on its own: when it moves, and when it must not."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from durable_host.clock import SETTLE_TURNS, VirtualClock, WorkTracker
from tests.durable_host.engine_polling import eventually

T0 = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


async def test_timers_fire_in_due_order_with_time_at_each_due_instant() -> None:
    clock = VirtualClock(WorkTracker(), T0)
    seen: list[tuple[str, datetime]] = []
    done = asyncio.Event()
    for name, minutes in [("c", 30), ("a", 10), ("b", 20)]:
        clock.call_at(T0 + timedelta(minutes=minutes), lambda n=name: seen.append((n, clock.now())))
    clock.call_at(T0 + timedelta(hours=5), done.set)
    await clock.start()
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        await clock.stop()
    assert seen == [
        ("a", T0 + timedelta(minutes=10)),
        ("b", T0 + timedelta(minutes=20)),
        ("c", T0 + timedelta(minutes=30)),
    ]
    assert clock.now() == T0 + timedelta(hours=5)


async def test_time_does_not_skip_while_work_runs_even_on_another_thread() -> None:
    tracker = WorkTracker()
    clock = VirtualClock(tracker, T0)
    fired = asyncio.Event()
    clock.call_at(T0 + timedelta(days=1), fired.set)
    tracker.bind(asyncio.get_running_loop())
    tracker.begin()
    await clock.start()
    try:
        for _ in range(200):
            await asyncio.sleep(0)
        assert not fired.is_set() and clock.now() == T0
        # Work ending on a worker thread (as an activity does) lets time move again.
        worker = threading.Thread(target=tracker.end)
        worker.start()
        await asyncio.to_thread(worker.join)
        await asyncio.wait_for(fired.wait(), 5)
    finally:
        await clock.stop()
    assert clock.now() == T0 + timedelta(days=1)


async def test_a_cancelled_timer_does_not_fire_and_paused_time_does_not_move() -> None:
    clock = VirtualClock(WorkTracker(), T0)
    fired: list[str] = []
    held = asyncio.Event()

    def fire_held() -> None:
        fired.append("held")
        held.set()

    clock.call_at(T0 + timedelta(minutes=1), lambda: fired.append("cancelled")).cancel()
    await clock.start()
    try:
        async with clock.paused():
            clock.call_at(T0 + timedelta(minutes=2), fire_held)
            for _ in range(200):
                await asyncio.sleep(0)
            assert fired == [] and clock.now() == T0
        await asyncio.wait_for(held.wait(), 5)
    finally:
        await clock.stop()
    assert fired == ["held"]


async def test_advance_by_hand_fires_what_falls_due_and_stops_at_the_target() -> None:
    clock = VirtualClock(WorkTracker(), T0, auto_advance=False)
    fired: list[datetime] = []
    for minutes in (5, 15):
        clock.call_at(T0 + timedelta(minutes=minutes), lambda: fired.append(clock.now()))
    await clock.start()
    try:
        await clock.advance(timedelta(minutes=10))
        assert fired == [T0 + timedelta(minutes=5)]
        assert clock.now() == T0 + timedelta(minutes=10)
        assert clock.next_due() == T0 + timedelta(minutes=15)
        with pytest.raises(ValueError, match="backwards"):
            await clock.advance(timedelta(seconds=-1))
    finally:
        await clock.stop()


def test_the_tracker_refuses_to_end_work_that_never_began() -> None:
    with pytest.raises(RuntimeError, match="without a matching begin"):
        WorkTracker().end()


async def test_while_work_runs_a_timer_fires_at_the_wall_clocks_pace_at_its_due_instant() -> None:
    tracker = WorkTracker()
    # (The reading's catching up with slow work is the next test's.)
    clock = VirtualClock(tracker, T0, catch_up_after=timedelta(hours=1))
    fired: list[datetime] = []
    tracker.bind(asyncio.get_running_loop())
    tracker.begin()  # an unrelated activity that runs for real, for longer than this test
    await clock.start()
    try:
        clock.call_at(T0 + timedelta(days=1), lambda: fired.append(T0))
        began = time.monotonic()
        clock.call_at(T0 + timedelta(milliseconds=300), lambda: fired.append(clock.now()))

        async def has_fired() -> bool:
            return bool(fired)

        await eventually(has_fired, "the 300 ms timer", limit=3)
        assert time.monotonic() - began >= 0.3
        # The reading moved to the timer's due instant, not to the wall clock, and no further.
        assert fired == [T0 + timedelta(milliseconds=300)]
        assert clock.now() == T0 + timedelta(milliseconds=300)
    finally:
        await clock.stop()


async def test_the_reading_follows_the_wall_clock_once_work_runs_unseen() -> None:
    tracker = WorkTracker()
    clock = VirtualClock(tracker, T0, catch_up_after=timedelta(milliseconds=200))
    tracker.bind(asyncio.get_running_loop())
    await clock.start()
    try:
        for _ in range(50):  # quick work, however much of it, takes no virtual time
            with tracker.busy():
                await asyncio.sleep(0)
        assert clock.now() == T0
        began = time.monotonic()
        tracker.begin()  # slow work: nothing else starts or ends while it runs

        async def moved() -> bool:
            return clock.now() > T0

        await eventually(moved, "the reading to catch up", limit=3)
        caught_up = clock.now() - T0
        assert (
            timedelta(milliseconds=200) <= caught_up <= timedelta(seconds=time.monotonic() - began)
        )
        tracker.end()
        # It keeps what it caught up, and stands still again once nothing runs.
        ended = clock.now()
        assert ended >= T0 + caught_up
        await asyncio.sleep(0.3)
        assert clock.now() == ended
    finally:
        await clock.stop()


async def test_paused_time_holds_real_points_too_and_does_not_count_towards_them() -> None:
    tracker = WorkTracker()
    clock = VirtualClock(tracker, T0, catch_up_after=timedelta(milliseconds=100))
    fired = asyncio.Event()
    tracker.bind(asyncio.get_running_loop())
    await clock.start()
    try:
        began = time.monotonic()
        async with clock.paused():
            tracker.begin()  # work that runs for real, from now to the end of the test
            clock.call_at(T0 + timedelta(milliseconds=100), fired.set)
            await asyncio.sleep(0.3)  # past the timer's real point, and past catching up
            assert not fired.is_set() and clock.now() == T0
        await asyncio.wait_for(fired.wait(), 3)
        assert time.monotonic() - began >= 0.4
    finally:
        await clock.stop()


async def test_without_auto_advance_real_time_does_not_move_the_clock() -> None:
    tracker = WorkTracker()
    clock = VirtualClock(
        tracker, T0, auto_advance=False, catch_up_after=timedelta(milliseconds=100)
    )
    fired: list[datetime] = []
    tracker.bind(asyncio.get_running_loop())
    await clock.start()
    try:
        clock.call_at(T0 + timedelta(milliseconds=100), lambda: fired.append(clock.now()))
        with tracker.busy():
            await asyncio.sleep(0.3)  # past the timer's real point, and past catching up
            assert fired == [] and clock.now() == T0
        await clock.advance(timedelta(seconds=1))
        assert fired == [T0 + timedelta(milliseconds=100)]
        assert clock.now() == T0 + timedelta(seconds=1)
    finally:
        await clock.stop()


async def test_parked_work_waits_on_virtual_time_so_the_clock_skips_around_it() -> None:
    tracker = WorkTracker()
    clock = VirtualClock(tracker, T0)
    tracker.bind(asyncio.get_running_loop())
    await clock.start()
    try:
        with tracker.busy():  # an activity standing in for a service that takes an hour
            await asyncio.wait_for(clock.sleep(timedelta(hours=1)), 3)
        assert clock.now() == T0 + timedelta(hours=1)
    finally:
        await clock.stop()


async def test_stopping_as_work_ends_stops_the_clock() -> None:
    tracker = WorkTracker()
    clock = VirtualClock(tracker, T0)
    tracker.bind(asyncio.get_running_loop())
    tracker.begin()
    clock.call_at(T0 + timedelta(days=1), lambda: None)
    await clock.start()
    for _ in range(SETTLE_TURNS):  # the clock now waits for the timer's real point
        await asyncio.sleep(0)
    # A host stopping abandons its work: the clock is woken and cancelled in the same turn.
    tracker.end()
    async with asyncio.timeout(5):
        await clock.stop()
