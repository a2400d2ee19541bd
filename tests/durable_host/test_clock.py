"""The virtual clock on its own: when it moves, and when it must not."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from durable_host.clock import VirtualClock, WorkTracker

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


async def test_time_stands_still_while_work_runs_even_on_another_thread() -> None:
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
