"""Engine restarts: acknowledged messages, half-done work and duplicates, against real storage.

Each test stops an Engine at a chosen point (as a crash would leave things) and starts a new one
on the same task hub, then checks the instance finishes with the right result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from durable_host import history as h
from durable_host.app import FunctionApp
from durable_host.contracts import FunctionInvoker, FunctionKind
from durable_host.engine import Engine, EngineOptions, InstanceExistsError
from durable_host.history import EventType, OrchestrationStatus
from durable_host.store import InstanceRecord, TaskHubStore
from durable_host.table_store import TableTaskHubStore
from tests.durable_host.engine_polling import eventually, poll

APP = Path(__file__).resolve().parent / "apps" / "orchestrations"


@pytest.fixture(scope="module")
def function_app() -> FunctionApp:
    return FunctionApp.load(APP)


@pytest.fixture
def hub() -> str:
    return "Rec" + uuid.uuid4().hex[:10]


class CountingActivities:
    """The app as the engine sees it, counting each activity invocation (name, input); the first
    invocation of `hold` waits for `release`, by default forever, like one cut short by a crash."""

    def __init__(
        self,
        app: FunctionApp,
        hold: tuple[str, str] | None = None,
        release: asyncio.Event | None = None,
    ) -> None:
        self.app = app
        self.hold = hold
        self.release = release or asyncio.Event()
        self.started: Counter[tuple[str, str]] = Counter()

    def kind_of(self, name: str) -> FunctionKind | None:
        return self.app.kind_of(name)

    def call_orchestrator(self, name: str, context_json: str) -> str:
        return self.app.call_orchestrator(name, context_json)

    async def run_activity(self, name: str, input_text: str) -> str:
        self.started[(name, input_text)] += 1
        if (name, input_text) == self.hold and self.started[self.hold] == 1:
            await self.release.wait()  # or until the engine stops and cancels it
        return await self.app.run_activity(name, input_text)


@asynccontextmanager
async def engine_for(
    connection_string: str, hub: str, app: FunctionInvoker, start: bool = True
) -> AsyncIterator[Engine]:
    store = await TableTaskHubStore.open(connection_string, hub)
    engine = Engine(store, EngineOptions(hub_name=hub), app)
    if start:
        await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


def inbox_empty(engine: Engine) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return not await engine.store.pending_messages()

    return check


def finished(record: InstanceRecord) -> bool:
    return record.is_terminal


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on its own event loop (pytest sees the wrapped signature)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


@run_async
async def test_acknowledged_start_and_events_survive_a_stop_before_any_episode(
    storage_connection_string: str, hub: str, function_app: FunctionApp
) -> None:
    async with engine_for(storage_connection_string, hub, function_app, start=False) as engine:
        # Not dispatching: like a host killed right after answering these requests.
        await engine.start_new("WaitTwo", "acked", None)
        await engine.raise_event("acked", "A", '"a"')
        await engine.raise_event("acked", "B", '"b"')
    async with engine_for(storage_connection_string, hub, function_app) as engine:
        record = await poll(engine, "acked", finished)
        assert record.runtime_status == OrchestrationStatus.Completed
        assert record.output == '["a", "b"]'
        assert await engine.store.pending_messages() == []


@run_async
async def test_activity_scheduled_but_never_reported_runs_again_after_restart(
    storage_connection_string: str, hub: str, function_app: FunctionApp
) -> None:
    counting = CountingActivities(function_app, hold=("Pause", "1"))
    async with engine_for(storage_connection_string, hub, counting) as engine:
        await engine.start_new("SlowChain", "slow", '"1"')

        async def first_step_running() -> bool:
            return counting.started[("Pause", "1")] == 1

        await eventually(first_step_running, "the first activity to run")
        kinds = [e["EventType"] for e in await engine.get_history("slow")]
        assert EventType.TaskScheduled in kinds and EventType.TaskCompleted not in kinds
    # The first Pause was running when the engine stopped; its result was never stored.
    async with engine_for(storage_connection_string, hub, counting) as engine:
        record = await poll(engine, "slow", finished)
        assert record.runtime_status == OrchestrationStatus.Completed
        assert record.output == "11"
    # It ran again after the restart; every later step ran once.
    assert counting.started == {("Pause", str(n)): 2 if n == 1 else 1 for n in (1, 2, 4, 7, 11)}


@run_async
async def test_a_duplicate_completion_changes_nothing(
    storage_connection_string: str, hub: str, function_app: FunctionApp
) -> None:
    async with engine_for(storage_connection_string, hub, function_app) as engine:
        await engine.start_new("Fickle", "dup", None)
        record = await poll(
            engine, "dup", lambda r: r.runtime_status == OrchestrationStatus.Running
        )

        async def completed_tasks() -> list[h.Event]:
            events = await engine.get_history("dup")
            return [e for e in events if e["EventType"] == EventType.TaskCompleted]

        await eventually(completed_tasks, "the first activity to complete")
        before = await engine.get_history("dup")
        record = await poll(engine, "dup", lambda r: True)
        duplicate = h.task_completed(h.utc_now(), 0, '"a different result"')
        await engine.store.add_message("dup", duplicate, record.execution_id)
    async with engine_for(storage_connection_string, hub, function_app) as engine:
        await engine.raise_event("dup", "Go", "true")
        record = await poll(engine, "dup", finished)
        assert record.output == '["Hello 3", true]'
        after = await engine.get_history("dup")
        completions = [e for e in after if e["EventType"] == EventType.TaskCompleted]
        assert completions == [e for e in before if e["EventType"] == EventType.TaskCompleted]
        assert await engine.store.pending_messages() == []


@run_async
async def test_unknown_instance_messages_are_dropped(
    storage_connection_string: str, hub: str, function_app: FunctionApp
) -> None:
    async with engine_for(storage_connection_string, hub, function_app) as engine:
        await engine.store.add_message("ghost", h.event_raised(h.utc_now(), "A", "1"))
    async with engine_for(storage_connection_string, hub, function_app) as engine:
        await eventually(inbox_empty(engine), "the message to be dropped")
        assert await engine.get_status("ghost") is None


@run_async
async def test_a_status_row_behind_its_history_is_repaired_on_restart(
    storage_connection_string: str, hub: str, function_app: FunctionApp
) -> None:
    async with engine_for(storage_connection_string, hub, function_app) as engine:
        await engine.start_new("Chain", "lagging", json.dumps(json.dumps("Lee")))
        done = await poll(engine, "lagging", finished)
        # As if the host died after checkpointing the history but before the status row.
        stale = dataclasses.replace(
            done, runtime_status=OrchestrationStatus.Running, output=None, completed_time=None
        )
        await engine.store.put_instance(stale)
    async with engine_for(storage_connection_string, hub, function_app) as engine:
        record = await poll(engine, "lagging", finished)
        assert record.runtime_status == OrchestrationStatus.Completed
        assert record.output == done.output
        assert json.loads(record.output or "null")[0] == "Hello Lee"


@run_async
async def test_redelivered_events_and_suspensions_apply_once(
    storage_connection_string: str, hub: str, function_app: FunctionApp
) -> None:
    async with engine_for(storage_connection_string, hub, function_app) as engine:
        await engine.start_new("WaitTwo", "once", None)
        await poll(engine, "once", lambda r: r.runtime_status == OrchestrationStatus.Running)
        await engine.raise_event("once", "A", '"a"')
        await poll(engine, "once", lambda r: r.custom_status == '"got A"')
        await engine.suspend("once", "pause")
        await poll(engine, "once", lambda r: r.runtime_status == OrchestrationStatus.Suspended)
        await engine.resume("once", "go on")
        await poll(engine, "once", lambda r: r.runtime_status == OrchestrationStatus.Running)
        # Consumed inbox rows are deleted lazily, so a restart delivers them again.
        assert len(await engine.store.pending_messages()) >= 3
    async with engine_for(storage_connection_string, hub, function_app) as engine:
        # Without once-only delivery the suspension would come back and hold B forever.
        await engine.raise_event("once", "B", '"b"')
        record = await poll(engine, "once", finished)
        assert record.output == '["a", "b"]'
        history = await engine.store.load_history("once")
        raised = [e["Name"] for e in history.events if e["EventType"] == EventType.EventRaised]
        assert raised == ["A", "B"]
        kinds = [e["EventType"] for e in history.events]
        assert kinds.count(EventType.ExecutionSuspended) == 1
        assert await engine.store.pending_messages() == []


@run_async
async def test_a_start_is_refused_while_another_process_left_the_instance_running(
    storage_connection_string: str, hub: str, function_app: FunctionApp
) -> None:
    async with engine_for(storage_connection_string, hub, function_app, start=False) as engine:
        await engine.start_new("WaitTwo", "taken", None)
    async with engine_for(storage_connection_string, hub, function_app, start=False) as engine:
        # This engine has not recovered anything: only storage knows the id is in use.
        with pytest.raises(InstanceExistsError):
            await engine.start_new("WaitTwo", "taken", None)
        record = await engine.store.get_instance("taken")
        assert record is not None and record.runtime_status == OrchestrationStatus.Pending


@run_async
async def test_a_finished_instance_known_only_to_storage_can_be_started_again(
    storage_connection_string: str, hub: str, function_app: FunctionApp
) -> None:
    async with engine_for(storage_connection_string, hub, function_app) as engine:
        await engine.start_new("Chain", "again", json.dumps(json.dumps("Ann")))
        first = await poll(engine, "again", finished)
    async with engine_for(storage_connection_string, hub, function_app) as engine:
        await engine.start_new("Chain", "again", json.dumps(json.dumps("Bo")))
        second = await poll(engine, "again", lambda r: r.is_terminal and "Bo" in (r.input or ""))
        assert second.execution_id != first.execution_id
        assert json.loads(second.output or "null")[0] == "Hello Bo"
        assert await engine.store.pending_messages() == []


@run_async
async def test_an_episode_that_only_waits_is_written_with_the_next_and_a_crash_reruns_it(
    storage_connection_string: str, hub: str, function_app: FunctionApp
) -> None:
    counting = CountingActivities(function_app, hold=("Greet", '"b"'))
    async with engine_for(storage_connection_string, hub, counting) as engine:
        await engine.start_new("Pair", "pair", json.dumps(json.dumps(["a", "b"])))
        await poll(engine, "pair", lambda r: r.custom_status == '"Hello a"')
        # The answer of "a" changed nothing but the custom status while "b" still runs: it is
        # written with the episode "b" brings, not on its own.
        kinds = [e["EventType"] for e in (await engine.store.load_history("pair")).events]
        assert EventType.TaskScheduled in kinds and EventType.TaskCompleted not in kinds
    async with engine_for(storage_connection_string, hub, counting) as engine:
        record = await poll(engine, "pair", finished)
        assert record.output == '["Hello a", "Hello b"]'
        kinds = [e["EventType"] for e in (await engine.store.load_history("pair")).events]
        assert kinds.count(EventType.TaskCompleted) == 2
    # Both ran again after the crash: the first's result had not been written.
    assert counting.started == {("Greet", '"a"'): 2, ("Greet", '"b"'): 2}


class FailsOnce:
    """A task hub store whose next history write, once `armed`, fails as a storage hiccup would."""

    def __init__(self, store: TaskHubStore) -> None:
        self.store = store
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def append_history(self, *args: Any, **kwargs: Any) -> None:
        if self.armed:
            self.armed = False
            raise ConnectionError("the storage service did not answer")
        await self.store.append_history(*args, **kwargs)


@run_async
async def test_a_failed_checkpoint_keeps_the_episode_still_waiting_to_be_written(
    storage_connection_string: str, hub: str, function_app: FunctionApp
) -> None:
    release = asyncio.Event()
    counting = CountingActivities(function_app, hold=("Greet", '"b"'), release=release)
    store = FailsOnce(await TableTaskHubStore.open(storage_connection_string, hub))
    engine = Engine(store, EngineOptions(hub_name=hub), counting)
    await engine.start()
    try:
        await engine.start_new("Pair", "pair", json.dumps(json.dumps(["a", "b"])))
        # The answer of "a" waits in memory to be written with the episode "b" brings, and
        # writing that one fails once: the retry must still know what "a" answered.
        await poll(engine, "pair", lambda r: r.custom_status == '"Hello a"')
        store.armed = True
        release.set()
        record = await poll(engine, "pair", finished)
        assert not store.armed
        assert record.output == '["Hello a", "Hello b"]'
        kinds = [e["EventType"] for e in (await store.load_history("pair")).events]
        assert kinds.count(EventType.TaskCompleted) == 2
    finally:
        await engine.stop()
    assert counting.started == {("Greet", '"a"'): 1, ("Greet", '"b"'): 1}
