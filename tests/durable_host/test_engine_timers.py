"""Durable timers on the engine, on virtual time: what the real host does with them, in no time.

The other orchestration features, over HTTP and Azurite, are in test_engine_orchestrations.py;
these are the ones whose subject is time itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from durable_host.history import EventType
from durable_host.testing import DurableTestEnv
from tests.durable_host.conftest import APPS

APP = APPS / "orchestrations"
T0 = datetime(2030, 6, 1, tzinfo=UTC)


def event_types(history: list[dict[str, object]]) -> list[object]:
    return [event["EventType"] for event in history]


async def test_a_durable_timer_delays_the_orchestration_by_its_time() -> None:
    async with DurableTestEnv(APP, start_time=T0) as env:
        instance = await env.start("Delay", {"seconds": 90})
        status = await env.wait_for(instance, "Completed")
        history = await env.history(instance)
    assert status.output == 90  # what the orchestrator measured on its own clock
    assert status.last_updated_time == T0 + timedelta(seconds=90)
    assert event_types(history) == [
        "ExecutionStarted",
        "TimerCreated",
        "TimerFired",
        "ExecutionCompleted",
    ]


async def test_the_deadline_beats_a_missing_event() -> None:
    async with DurableTestEnv(APP, start_time=T0) as env:
        instance = await env.start("Approval", {"seconds": 3600})
        status = await env.wait_for(instance)
    assert status.output == {"approved": None, "timed_out": True}
    assert status.last_updated_time == T0 + timedelta(hours=1)


async def test_an_event_beats_the_deadline_and_the_cancelled_timer_does_not_hold_it() -> None:
    async with DurableTestEnv(APP, start_time=T0, auto_advance=False) as env:
        instance = await env.start("Approval", {"seconds": 3600})
        await env.wait_for(instance, "Running")
        await env.raise_event(instance, "Approve", {"by": "Grace"}, json_body=True)
        status = await env.wait_for(instance, "Completed")
        # The cancelled timer is disarmed: it will not wake the finished instance in an hour.
        assert env.clock.next_due() is None
    assert status.output == {"approved": {"by": "Grace"}}
    assert status.last_updated_time == T0


async def test_an_orchestrator_that_returns_with_a_timer_pending_runs_until_it_fires() -> None:
    # DurableTask completes no instance while a timer it did not cancel is pending.
    async with DurableTestEnv(APP, start_time=T0, auto_advance=False) as env:
        instance = await env.start("Approval", {"seconds": 8, "cancel": False})
        await env.wait_for(instance, "Running")
        await env.raise_event(instance, "Approve", {"by": "Ida"}, json_body=True)
        await env.settle()
        approved = await env.status(instance)
        assert approved is not None
        history = await env.history(instance)
        assert "EventRaised" in event_types(history)
        assert "ExecutionCompleted" not in event_types(history)
        assert approved.runtime_status == "Running"

        await env.advance(timedelta(seconds=8))
        status = await env.wait_for(instance, "Completed")
        kinds = event_types(await env.history(instance))
    assert status.output == {"approved": {"by": "Ida"}}
    assert status.last_updated_time == T0 + timedelta(seconds=8)
    assert (
        kinds.index("EventRaised") < kinds.index("TimerFired") < kinds.index("ExecutionCompleted")
    )


async def test_a_message_that_changes_nothing_does_not_lose_an_episode_not_yet_written() -> None:
    # The approval only waits for the timer, so its episode is written with the timer's. A resume
    # of the running instance in between changes nothing, and writes nothing either.
    async with DurableTestEnv(APP, start_time=T0, auto_advance=False) as env:
        instance = await env.start("Approval", {"seconds": 8, "cancel": False})
        await env.wait_for(instance, "Running")
        await env.raise_event(instance, "Approve", {"by": "Ida"}, json_body=True)
        await env.settle()
        await env.resume(instance)
        await env.settle()
        await env.advance(timedelta(seconds=8))
        status = await env.wait_for(instance, "Completed")
        stored = [e["EventType"] for e in (await env.engine.store.load_history(instance)).events]
    assert status.output == {"approved": {"by": "Ida"}}
    assert stored.count(EventType.EventRaised) == 1
    assert stored[-2:] == [EventType.ExecutionCompleted, EventType.OrchestratorCompleted]
