"""The orchestration engine: runs episodes, dispatches work, checkpoints to the task hub.

Nothing acknowledged is acted on before it is durable: a start is its Pending status row, and a
raised event, terminate, suspend, resume or sub-orchestration message is in the store's inbox
first. Activity results and timer firings are not stored on their own: they become durable in the
checkpoint of the episode that applies them, and after a crash before that the activity runs again
(activities run at least once) or the timer is armed again from the history.

Dispatch is in memory: one queue of instances with pending messages (an instance runs one episode
at a time, different instances run in parallel up to max_concurrent_orchestrators) and one queue of
activity work (max_concurrent_activities at a time); timers sit on the event loop. An episode takes
the history from memory (loading it only for an instance this process has not seen), appends its
messages as events, calls the orchestrator, turns new actions into events and work, writes history
+ sentinel, then the Instances row, and only then dispatches. An orchestrator that returns while a
timer of its own is neither fired nor cancelled leaves the instance Running until that timer fires,
as DurableTask does. Consumed inbox rows are deleted in batches later; one delivered again is
recognised and dropped. Finished instances' status rows stay in memory for a while, so the last
status polls of a client cost no storage request. A restart rebuilds the in-memory part from
storage, history being the source of truth.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from durable_host import history as h
from durable_host.contracts import (
    ActivityError,
    FunctionInvocationError,
    FunctionInvoker,
    FunctionKind,
)
from durable_host.history import Event, EventType, OrchestrationStatus
from durable_host.replay import (
    NewActivity,
    NewSubOrchestration,
    NewTimer,
    Plan,
    plan_episode,
)
from durable_host.store import (
    InstanceQuery,
    InstanceRecord,
    TaskHubStore,
    ValueTooLargeError,
    fits_in_a_property,
)

log = logging.getLogger("durable_host.engine")

RETRY_DELAY_SECONDS = 1.0
# Consumed inbox rows are deleted in batches: after this many, when the execution ends, or when
# a new one starts. Until then a re-delivered row is recognised by its id in the history.
INBOX_DELETE_BATCH = 50
# How many finished instances' status rows are kept in memory for the status API.
FINISHED_KEPT = 4096
# Messages that are not idempotent by themselves; their inbox row key is kept in the history.
_ONCE_ONLY = frozenset(
    {
        EventType.EventRaised,
        EventType.ExecutionTerminated,
        EventType.ExecutionSuspended,
        EventType.ExecutionResumed,
    }
)
# Azure Storage's defaults, sent to the SDK so that it splits long timers as the real host does.
LONG_TIMER_INTERVAL = "3.00:00:00"
MAXIMUM_SHORT_TIMER = "6.00:00:00"

RUNNING_STATUSES = frozenset(
    {OrchestrationStatus.Running, OrchestrationStatus.Pending, OrchestrationStatus.Suspended}
)


@dataclass(frozen=True)
class EngineOptions:
    hub_name: str
    max_concurrent_activities: int = 10
    max_concurrent_orchestrators: int = 10


class InstanceExistsError(Exception):
    """A start named an instance that is still Pending, Running or Suspended."""

    def __init__(self, instance_id: str, status: OrchestrationStatus) -> None:
        super().__init__(f"An Orchestration instance with the status {status.name} already exists.")
        self.instance_id = instance_id
        self.status = status


class UnknownFunctionError(ValueError):
    """A start or restart named a function that is not an orchestrator of this app."""


@dataclass
class Message:
    """An event for one instance; `row_key` is its inbox row when it was stored durably."""

    instance_id: str
    event: Event
    row_key: str | None = None
    execution_id: str | None = None


@dataclass
class _Runtime:
    """What an episode needs of an instance: its status row and its current execution."""

    record: InstanceRecord
    history: list[Event] = field(default_factory=list)
    closed: set[int] = field(default_factory=set)
    scheduled: dict[int, Event] = field(default_factory=dict)
    applied_messages: set[str] = field(default_factory=set)

    def remember(self, events: list[Event]) -> None:
        for event in events:
            self.history.append(event)
            kind = event["EventType"]
            if "MessageId" in event:
                self.applied_messages.add(str(event["MessageId"]))
            if kind in h.SCHEDULING_TYPES:
                self.scheduled[int(event["EventId"])] = event
            key = h.completion_key(event)
            if key is not None:
                self.closed.add(key)

    @property
    def started(self) -> Event | None:
        return next(
            (e for e in self.history[:3] if e["EventType"] == EventType.ExecutionStarted), None
        )

    @property
    def parent(self) -> dict[str, Any] | None:
        started = self.started
        return started.get("ParentInstance") if started else None


@dataclass
class _Outcome:
    """What one episode decided, applied to memory and dispatched only after the checkpoint."""

    runtime: _Runtime
    record: InstanceRecord
    events: list[Event]
    fresh_execution: bool
    consumed: list[Message]
    parked: list[Message]
    activities: list[NewActivity] = field(default_factory=list)
    timers: list[NewTimer] = field(default_factory=list)
    children: list[NewSubOrchestration] = field(default_factory=list)
    unparked: bool = False


class Engine:
    """Runs the orchestrations of one task hub against one app (through a FunctionInvoker)."""

    def __init__(self, store: TaskHubStore, options: EngineOptions, invoker: FunctionInvoker):
        self.store = store
        self.options = options
        self.invoker = invoker
        self._cache: dict[str, _Runtime] = {}
        self._finished: OrderedDict[str, InstanceRecord] = OrderedDict()
        self._pending: dict[str, list[Message]] = defaultdict(list)
        self._parked: dict[str, list[Message]] = defaultdict(list)
        self._queued: set[str] = set()
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._activities: asyncio.Queue[tuple[str, str, NewActivity]] = asyncio.Queue()
        self._timers: set[asyncio.TimerHandle] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._start_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._undeleted: dict[str, list[str]] = defaultdict(list)
        self._started = False

    @property
    def hub_name(self) -> str:
        return self.options.hub_name

    @classmethod
    async def create(
        cls, connection_string: str, options: EngineOptions, invoker: FunctionInvoker
    ) -> Engine:
        """Open (and create if needed) the task hub's tables."""
        store = await TaskHubStore.open(connection_string, options.hub_name)
        return cls(store, options, invoker)

    async def start(self) -> None:
        """Recover in-flight work from storage, then start dispatching."""
        if self._started:
            return
        self._started = True
        await self._recover()
        self._workers += [
            asyncio.create_task(self._orchestration_worker())
            for _ in range(self.options.max_concurrent_orchestrators)
        ]
        self._workers += [
            asyncio.create_task(self._activity_worker())
            for _ in range(self.options.max_concurrent_activities)
        ]

    async def stop(self) -> None:
        """Stop dispatching; whatever was in flight resumes from storage on the next start."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._started = False
        await self.store.close()

    # Client operations (the management API and durableClient bindings call these)

    async def start_new(self, name: str, instance_id: str, input_text: str | None) -> str:
        """Start an orchestration; raises UnknownFunctionError or InstanceExistsError."""
        if self.invoker.kind_of(name) is not FunctionKind.ORCHESTRATOR:
            raise UnknownFunctionError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                "function."
            )
        # One start per instance id at a time, so that two racing starts cannot both pass the
        # existence check; the entry lives as long as someone holds or waits for it.
        lock, users = self._start_locks.get(instance_id) or (asyncio.Lock(), 0)
        self._start_locks[instance_id] = (lock, users + 1)
        try:
            async with lock:
                await self._create_instance(name, instance_id, input_text, None)
        finally:
            lock, users = self._start_locks[instance_id]
            if users == 1:
                del self._start_locks[instance_id]
            else:
                self._start_locks[instance_id] = (lock, users - 1)
        return instance_id

    async def get_status(self, instance_id: str) -> InstanceRecord | None:
        known = self._status_in_memory(instance_id)
        if known is not None:
            return known
        return await self.store.get_instance(instance_id)

    def _status_in_memory(self, instance_id: str) -> InstanceRecord | None:
        runtime = self._cache.get(instance_id)
        if runtime is not None:
            return runtime.record
        return self._finished.get(instance_id)

    def _remember_finished(self, record: InstanceRecord) -> None:
        self._finished[record.instance_id] = record
        self._finished.move_to_end(record.instance_id)
        while len(self._finished) > FINISHED_KEPT:
            self._finished.popitem(last=False)

    async def get_history(self, instance_id: str) -> list[Event]:
        runtime = self._cache.get(instance_id)
        if runtime is not None:
            return list(runtime.history)
        _, events = await self.store.load_history(instance_id)
        return events

    async def raise_event(self, instance_id: str, name: str, input_text: str | None) -> None:
        await self._send(instance_id, h.event_raised(h.utc_now(), name, input_text))

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        await self._send(instance_id, h.execution_terminated(h.utc_now(), reason))

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        await self._send(instance_id, h.execution_suspended(h.utc_now(), reason))

    async def resume(self, instance_id: str, reason: str | None) -> None:
        await self._send(instance_id, h.execution_resumed(h.utc_now(), reason))

    async def restart(self, instance_id: str, new_instance_id: str | None) -> str:
        """Start the instance's orchestration again with its original input."""
        record = await self.get_status(instance_id)
        if record is None:
            raise KeyError(instance_id)
        return await self.start_new(record.name, new_instance_id or instance_id, record.input)

    async def query(
        self, query: InstanceQuery, top: int | None, continuation: str | None
    ) -> tuple[list[InstanceRecord], str | None]:
        return await self.store.query_instances(query, top, continuation)

    async def purge(self, instance_id: str) -> int:
        self._cache.pop(instance_id, None)
        self._finished.pop(instance_id, None)
        return 1 if await self.store.purge(instance_id) else 0

    async def purge_where(self, query: InstanceQuery) -> int:
        records, _ = await self.store.query_instances(query)
        deleted = 0
        for record in records:
            if record.is_terminal:
                deleted += await self.purge(record.instance_id)
        return deleted

    # Messages

    async def _send(self, instance_id: str, event: Event, execution_id: str | None = None) -> None:
        """Store a message durably, then hand it to dispatch."""
        row_key = await self.store.add_message(instance_id, event, execution_id)
        self._enqueue(Message(instance_id, event, row_key, execution_id))

    def _enqueue(self, message: Message) -> None:
        self._pending[message.instance_id].append(message)
        self._wake(message.instance_id)

    def _wake(self, instance_id: str) -> None:
        if instance_id not in self._queued:
            self._queued.add(instance_id)
            self._ready.put_nowait(instance_id)

    async def _create_instance(
        self, name: str, instance_id: str, input_text: str | None, parent: dict[str, Any] | None
    ) -> None:
        """Record a start durably, then queue it; InstanceExistsError if the id is in use.

        The Pending status row is the durable promise: after a crash, recovery starts any Pending
        row whose execution has no history. A sub-orchestration's start also goes to the inbox
        first, since only the message carries the link back to its parent.
        """
        now = h.utc_now()
        execution_id = uuid.uuid4().hex
        started = h.execution_started(now, instance_id, execution_id, name, input_text, parent)
        record = InstanceRecord(
            instance_id=instance_id,
            execution_id=execution_id,
            name=name,
            runtime_status=OrchestrationStatus.Pending,
            created_time=now,
            last_updated_time=now,
            input=input_text,
        )
        known = self._status_in_memory(instance_id)
        if known is not None and known.runtime_status in RUNNING_STATUSES:
            raise InstanceExistsError(instance_id, known.runtime_status)
        row_key = None
        if parent is not None:
            row_key = await self.store.add_message(instance_id, started, execution_id)
        if known is not None or not await self.store.add_instance(record):
            # Not a new id: a finished instance may be replaced, a running one may not.
            existing = known or await self.store.get_instance(instance_id)
            if existing is not None and existing.runtime_status in RUNNING_STATUSES:
                raise InstanceExistsError(instance_id, existing.runtime_status)
            await self.store.put_instance(record)
        self._finished.pop(instance_id, None)
        self._cache[instance_id] = _Runtime(record)
        self._enqueue(Message(instance_id, started, row_key, execution_id))

    # Workers

    async def _orchestration_worker(self) -> None:
        while True:
            instance_id = await self._ready.get()
            messages = self._pending.pop(instance_id, [])
            try:
                if messages:
                    await self._run_episode(instance_id, messages)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Episode of instance %r failed; retrying shortly", instance_id)
                self._cache.pop(instance_id, None)
                self._pending[instance_id][:0] = messages
                self._later(RETRY_DELAY_SECONDS, functools.partial(self._wake, instance_id))
                self._queued.discard(instance_id)
                continue
            if self._pending.get(instance_id):
                self._ready.put_nowait(instance_id)
            else:
                self._pending.pop(instance_id, None)
                self._queued.discard(instance_id)

    async def _activity_worker(self) -> None:
        while True:
            instance_id, execution_id, work = await self._activities.get()
            try:
                result = await self.invoker.run_activity(work.name, work.input_text)
                event = h.task_completed(h.utc_now(), work.sequence_id, result)
            except asyncio.CancelledError:
                raise
            except ActivityError as error:
                event = h.task_failed(h.utc_now(), work.sequence_id, error.reason, error.details)
            except Exception as error:
                reason = f"Activity function '{work.name}' failed: {error}"
                event = h.task_failed(h.utc_now(), work.sequence_id, reason, None)
            if not _fits_in_a_row(event):
                # Fail the activity, not the episode that would try to store its result.
                too_large = ValueTooLargeError(
                    f"The result of activity '{work.name}' for instance '{instance_id}'"
                )
                event = h.task_failed(h.utc_now(), work.sequence_id, str(too_large), None)
            # Durable with the checkpoint that applies it; until then a crash re-runs the activity.
            self._enqueue(Message(instance_id, event, None, execution_id))

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            self._timers.discard(handle)
            callback()

        handle = loop.call_later(max(delay, 0.0), run)
        self._timers.add(handle)

    def _arm_timer(self, instance_id: str, execution_id: str, timer_id: int, fire_at: str) -> None:
        delay = (h.parse_timestamp(fire_at) - h.utc_now()).total_seconds()

        def fire() -> None:
            event = h.timer_fired(h.utc_now(), timer_id, fire_at)
            self._enqueue(Message(instance_id, event, None, execution_id))

        self._later(delay, fire)

    # Episodes

    async def _runtime(self, instance_id: str) -> _Runtime | None:
        runtime = self._cache.get(instance_id)
        if runtime is not None:
            return runtime
        record = await self.store.get_instance(instance_id)
        if record is None:
            return None
        execution_id, events = await self.store.load_history(instance_id)
        runtime = _Runtime(record)
        # History is the source of truth. The Instances row can lag behind it (a crash between
        # the two writes), except for a Pending row, which is a new start not yet run.
        pending_start = (
            record.runtime_status == OrchestrationStatus.Pending
            and execution_id != record.execution_id
        )
        if execution_id is not None and events and not pending_start:
            runtime.record = reconcile(record, execution_id, events)
            runtime.remember(events)
        self._cache[instance_id] = runtime
        return runtime

    async def _run_episode(self, instance_id: str, messages: list[Message]) -> None:
        runtime = await self._runtime(instance_id)
        if runtime is None:
            log.warning(
                "Dropping %d message(s) for unknown instance %r", len(messages), instance_id
            )
            await self._delete_consumed(instance_id, messages)
            return
        outcome = await self._decide(runtime, messages)
        try:
            await self._checkpoint(outcome)
        except ValueTooLargeError as error:
            outcome = self._failed_as_too_large(outcome, str(error))
            await self._checkpoint(outcome)
        self._commit(outcome)
        await self._dispatch(outcome)

    async def _decide(self, runtime: _Runtime, messages: list[Message]) -> _Outcome:
        now = h.utc_now()
        record = dataclasses.replace(runtime.record)
        outcome = _Outcome(runtime, record, [h.orchestrator_started(now)], False, [], [])
        new_events: list[Event] = []
        closing: set[int] = set()
        should_run = False
        # Whether an execution exists to apply messages to (one may start in this very batch).
        active = bool(runtime.history)
        queue = list(messages)
        taken: set[str] = set()
        while queue:
            message = queue.pop(0)
            if message.row_key is not None:
                if message.row_key in taken:
                    continue
                taken.add(message.row_key)
            event = message.event
            kind = event["EventType"]
            if kind == EventType.ExecutionStarted:
                execution_id = event["OrchestrationInstance"]["ExecutionId"]
                outcome.consumed.append(message)
                current = active and record.execution_id == execution_id
                if current or (active and record.runtime_status in RUNNING_STATUSES):
                    continue
                active = True
                runtime = outcome.runtime = _Runtime(record)
                record.execution_id = execution_id
                record.name = event["Name"]
                record.input = event.get("Input")
                record.output = None
                record.custom_status = None
                record.completed_time = None
                record.runtime_status = OrchestrationStatus.Running
                outcome.fresh_execution = True
                outcome.events = [h.orchestrator_started(now)]
                new_events = [event]
                closing.clear()
                should_run = True
                continue
            if not active or record.is_terminal:
                outcome.consumed.append(message)
                continue
            if record.runtime_status == OrchestrationStatus.Suspended and kind not in (
                EventType.ExecutionResumed,
                EventType.ExecutionTerminated,
            ):
                outcome.parked.append(message)
                continue
            outcome.consumed.append(message)
            if kind in _ONCE_ONLY and message.row_key is not None:
                if message.row_key in runtime.applied_messages:
                    continue
                event = {**event, "MessageId": message.row_key}
            if kind == EventType.ExecutionTerminated:
                new_events.append(event)
                reason = event.get("Input")
                record.runtime_status = OrchestrationStatus.Terminated
                record.output = reason
                new_events.append(
                    h.execution_completed(now, -1, OrchestrationStatus.Terminated, reason)
                )
                should_run = False
            elif kind == EventType.ExecutionSuspended:
                if record.runtime_status == OrchestrationStatus.Running:
                    new_events.append(event)
                    record.runtime_status = OrchestrationStatus.Suspended
            elif kind == EventType.ExecutionResumed:
                if record.runtime_status == OrchestrationStatus.Suspended:
                    new_events.append(event)
                    record.runtime_status = OrchestrationStatus.Running
                    queue[:0] = [*self._parked.get(record.instance_id, []), *outcome.parked]
                    outcome.parked = []
                    outcome.unparked = True
            elif kind == EventType.EventRaised:
                new_events.append(event)
                should_run = True
            else:
                key = h.completion_key(event)
                if (
                    key is None
                    or message.execution_id not in (None, record.execution_id)
                    or key not in runtime.scheduled
                    or key in runtime.closed
                    or key in closing
                ):
                    continue
                closing.add(key)
                new_events.append(event)
                should_run = True
        if not new_events and not outcome.fresh_execution:
            # Only duplicates or messages to drop: nothing to run or to write.
            outcome.events = []
            outcome.record = runtime.record
            return outcome
        outcome.events += new_events
        if should_run and record.runtime_status == OrchestrationStatus.Running:
            await self._run_orchestrator(outcome, now)
        record.last_updated_time = now
        if record.is_terminal and record.completed_time is None:
            record.completed_time = now
        outcome.events.append(h.orchestrator_completed(now))
        return outcome

    async def _run_orchestrator(self, outcome: _Outcome, now: datetime) -> None:
        """Call the orchestrator (again after each continue-as-new) and record what it decided."""
        record = outcome.record
        while True:
            runtime = outcome.runtime
            history = runtime.history + outcome.events
            state = await self._call_orchestrator(record, runtime, history)
            custom_status = state.get("customStatus")
            if custom_status is not None:
                record.custom_status = json.dumps(custom_status)
            error = state.get("error")
            if error:
                self._fail(outcome, now, len(runtime.scheduled), str(error))
                return
            plan = plan_episode(history, state, record.execution_id, now)
            if plan.error is None:
                plan.error = self._missing_function(plan)
            if plan.error is not None:
                self._fail(outcome, now, plan.next_sequence_id, plan.error)
                return
            self._record_work(outcome, plan, now)
            if not state.get("isDone"):
                return
            if not plan.continues_as_new and plan.pending_timers:
                # As DurableTask does: the instance stays Running until its timers fire (or a
                # replay cancels them), and the orchestrator is called again then.
                return
            if not plan.continues_as_new:
                output = json.dumps(state["output"]) if "output" in state else None
                outcome.events.append(
                    h.execution_completed(
                        now, plan.next_sequence_id, OrchestrationStatus.Completed, output
                    )
                )
                record.runtime_status = OrchestrationStatus.Completed
                record.output = output
                return
            self._continue_as_new(outcome, plan, history, now)

    async def _call_orchestrator(
        self, record: InstanceRecord, runtime: _Runtime, history: list[Event]
    ) -> dict[str, Any]:
        parent = next(
            (
                e.get("ParentInstance")
                for e in history
                if e["EventType"] == EventType.ExecutionStarted
            ),
            None,
        )
        context = {
            "history": history,
            "input": json.loads(record.input) if record.input is not None else None,
            "instanceId": record.instance_id,
            "isReplaying": False,
            "parentInstanceId": parent["OrchestrationInstance"]["InstanceId"] if parent else None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
            "longRunningTimerIntervalDuration": LONG_TIMER_INTERVAL,
            "maximumShortTimerDuration": MAXIMUM_SHORT_TIMER,
            "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
        }
        try:
            text = await self.invoker.run_orchestrator(record.name, json.dumps(context))
            state = json.loads(text)
        except (FunctionInvocationError, ValueError) as error:
            return {"isDone": False, "actions": [], "error": str(error)}
        if not isinstance(state, dict):
            return {"isDone": False, "actions": [], "error": f"invalid orchestrator state {text!r}"}
        return state

    def _missing_function(self, plan: Plan) -> str | None:
        for work in plan.work:
            if isinstance(work, NewActivity) and (
                self.invoker.kind_of(work.name) is not FunctionKind.ACTIVITY
            ):
                return (
                    f"The function '{work.name}' doesn't exist, is disabled, or is not an "
                    "activity function."
                )
            if isinstance(work, NewSubOrchestration) and (
                self.invoker.kind_of(work.name) is not FunctionKind.ORCHESTRATOR
            ):
                return (
                    f"The function '{work.name}' doesn't exist, is disabled, or is not an "
                    "orchestrator function."
                )
        return None

    def _fail(self, outcome: _Outcome, now: datetime, event_id: int, error: str) -> None:
        record = outcome.record
        prefix = f"Orchestrator function '{record.name}' failed: "
        # The invoker already words failures of the function itself this way.
        reason = error if error.startswith(prefix) else prefix + error
        outcome.events.append(
            h.execution_completed(now, event_id, OrchestrationStatus.Failed, reason)
        )
        record.runtime_status = OrchestrationStatus.Failed
        record.output = reason
        outcome.activities.clear()
        outcome.timers.clear()
        outcome.children.clear()

    def _failed_as_too_large(self, outcome: _Outcome, error: str) -> _Outcome:
        """What was decided cannot be stored: keep the small events and fail the instance."""
        record = dataclasses.replace(outcome.record, custom_status=None)
        now = h.utc_now()
        kept = [
            event
            for event in outcome.events
            if event["EventType"] not in h.SCHEDULING_TYPES
            and event["EventType"] not in (EventType.ExecutionCompleted, EventType.ContinueAsNew)
            and event["EventType"] != EventType.OrchestratorCompleted
            and _fits_in_a_row(event)
        ]
        failed = dataclasses.replace(outcome, record=record, events=kept, activities=[], timers=[])
        failed.children = []
        self._fail(failed, now, -1, error)
        record.completed_time = now
        failed.events.append(h.orchestrator_completed(now))
        return failed

    def _record_work(self, outcome: _Outcome, plan: Plan, now: datetime) -> None:
        for work in plan.work:
            if isinstance(work, NewActivity):
                outcome.events.append(
                    h.task_scheduled(now, work.sequence_id, work.name, work.input_text)
                )
                outcome.activities.append(work)
            elif isinstance(work, NewTimer):
                outcome.events.append(h.timer_created(now, work.sequence_id, work.fire_at))
                if not work.cancelled:
                    outcome.timers.append(work)
            else:
                # Sub-orchestration inputs are stored as the JSON string of the input text,
                # as the real host stores any input that arrives as JSON text.
                stored_input = json.dumps(work.input_text)
                outcome.events.append(
                    h.sub_orchestration_created(
                        now, work.sequence_id, work.name, work.instance_id, stored_input
                    )
                )
                outcome.children.append(work)

    def _continue_as_new(
        self, outcome: _Outcome, plan: Plan, history: list[Event], now: datetime
    ) -> None:
        """Start the next execution in place; raised events it did not wait for carry over."""
        record = outcome.record
        carried: list[Event] = []
        raised: dict[str, list[Event]] = defaultdict(list)
        for event in history:
            if event["EventType"] == EventType.EventRaised:
                raised[str(event.get("Name"))].append(event)
        for name, events in raised.items():
            carried += events[plan.waits_by_name.get(name, 0) :]
        execution_id = uuid.uuid4().hex
        stored_input = json.dumps(plan.continue_as_new_input)
        started = h.execution_started(
            now, record.instance_id, execution_id, record.name, stored_input, outcome.runtime.parent
        )
        record.execution_id = execution_id
        record.input = stored_input
        record.runtime_status = OrchestrationStatus.Running
        outcome.runtime = _Runtime(record)
        outcome.fresh_execution = True
        outcome.events = [h.orchestrator_started(now), started, *carried]
        outcome.activities.clear()
        outcome.timers.clear()
        outcome.children.clear()

    async def _checkpoint(self, outcome: _Outcome) -> None:
        record = outcome.record
        runtime = outcome.runtime
        instance_id = record.instance_id
        if outcome.events:
            first = 0 if outcome.fresh_execution else len(runtime.history)
            await self.store.append_history(instance_id, record.execution_id, first, outcome.events)
        undeleted = self._undeleted[instance_id]
        undeleted += [m.row_key for m in outcome.consumed if m.row_key is not None]
        writes = []
        if outcome.events:
            writes.append(self.store.put_instance(record))
        if undeleted and (
            record.is_terminal or outcome.fresh_execution or len(undeleted) >= INBOX_DELETE_BATCH
        ):
            self._undeleted.pop(instance_id, None)
            writes.append(self.store.delete_messages(instance_id, list(dict.fromkeys(undeleted))))
        elif not undeleted:
            self._undeleted.pop(instance_id, None)
        await asyncio.gather(*writes)

    async def _delete_consumed(self, instance_id: str, messages: list[Message]) -> None:
        keys = [message.row_key for message in messages if message.row_key is not None]
        if keys:
            await self.store.delete_messages(instance_id, keys)

    def _commit(self, outcome: _Outcome) -> None:
        runtime = outcome.runtime
        runtime.record = outcome.record
        runtime.remember(outcome.events)
        instance_id = outcome.record.instance_id
        if outcome.unparked:
            self._parked.pop(instance_id, None)
        if outcome.parked:
            self._parked[instance_id].extend(outcome.parked)
        if outcome.record.is_terminal:
            self._cache.pop(instance_id, None)
            self._parked.pop(instance_id, None)
            self._remember_finished(outcome.record)
        else:
            self._cache[instance_id] = runtime

    async def _dispatch(self, outcome: _Outcome) -> None:
        record = outcome.record
        for work in outcome.activities:
            self._activities.put_nowait((record.instance_id, record.execution_id, work))
        for timer in outcome.timers:
            self._arm_timer(
                record.instance_id,
                record.execution_id,
                timer.sequence_id,
                h.format_timestamp(timer.fire_at),
            )
        for child in outcome.children:
            await self._start_child(record, child)
        if record.runtime_status in (OrchestrationStatus.Completed, OrchestrationStatus.Failed):
            await self._notify_parent(outcome.runtime.parent, record)

    async def _start_child(self, parent: InstanceRecord, child: NewSubOrchestration) -> None:
        link = {
            "Name": parent.name,
            "Version": "",
            "OrchestrationInstance": {
                "InstanceId": parent.instance_id,
                "ExecutionId": parent.execution_id,
            },
            "TaskScheduleId": child.sequence_id,
        }
        existing = await self.get_status(child.instance_id)
        try:
            if existing is not None and existing.runtime_status in RUNNING_STATUSES:
                raise InstanceExistsError(child.instance_id, existing.runtime_status)
            await self._create_instance(
                child.name, child.instance_id, json.dumps(child.input_text), link
            )
        except InstanceExistsError as error:
            event = h.sub_orchestration_failed(h.utc_now(), child.sequence_id, str(error), None)
            await self._send(parent.instance_id, event, parent.execution_id)

    async def _notify_parent(self, parent: dict[str, Any] | None, child: InstanceRecord) -> None:
        if not parent:
            return
        now = h.utc_now()
        scheduled_id = int(parent["TaskScheduleId"])
        if child.runtime_status == OrchestrationStatus.Completed:
            event = h.sub_orchestration_completed(now, scheduled_id, child.output)
        else:
            event = h.sub_orchestration_failed(now, scheduled_id, child.output, None)
        target = parent["OrchestrationInstance"]
        await self._send(target["InstanceId"], event, target["ExecutionId"])

    # Recovery

    async def _recover(self) -> None:
        """Rebuild dispatch from storage: pending inbox messages and every unfinished instance's
        outstanding activities, timers and sub-orchestrations."""
        stored = await self.store.pending_messages()
        waiting: dict[str, list[Message]] = defaultdict(list)
        for item in sorted(stored, key=lambda m: m.row_key):
            waiting[item.instance_id].append(
                Message(item.instance_id, item.event, item.row_key, item.execution_id)
            )
        unfinished = await self.store.unfinished_instances()
        limit = asyncio.Semaphore(16)

        async def recover(record: InstanceRecord) -> None:
            async with limit:
                await self._recover_instance(record, waiting[record.instance_id])

        await asyncio.gather(*(recover(record) for record in unfinished))
        for instance_id, messages in waiting.items():
            # Requests served while recovering may already have queued some of these rows;
            # the stored ones are older, so they go first.
            if not messages:
                continue
            queued = self._pending[instance_id]
            known = {message.row_key for message in queued if message.row_key is not None}
            queued[:0] = [message for message in messages if message.row_key not in known]
            self._wake(instance_id)
        log.info(
            "Recovered %d unfinished instance(s) and %d pending message(s) in hub %s",
            len(unfinished),
            len(stored),
            self.hub_name,
        )

    async def _recover_instance(self, record: InstanceRecord, inbox: list[Message]) -> None:
        runtime = await self._runtime(record.instance_id)
        if runtime is None:
            return
        if not runtime.history:
            self._recover_start(runtime.record, inbox)
            return
        if runtime.record != record:
            await self.store.put_instance(runtime.record)
        record = runtime.record
        if record.is_terminal:
            self._cache.pop(record.instance_id, None)
            await self._notify_parent(runtime.parent, record)
            return
        delivered = {h.completion_key(message.event) for message in inbox}
        for sequence_id, event in runtime.scheduled.items():
            if sequence_id in runtime.closed or sequence_id in delivered:
                continue
            kind = event["EventType"]
            if kind == EventType.TaskScheduled:
                work = NewActivity(sequence_id, event["Name"], h.activity_input(event))
                self._activities.put_nowait((record.instance_id, record.execution_id, work))
            elif kind == EventType.TimerCreated:
                self._arm_timer(
                    record.instance_id, record.execution_id, sequence_id, event["FireAt"]
                )
            elif kind == EventType.SubOrchestrationInstanceCreated:
                await self._recover_child(record, sequence_id, event)

    def _recover_start(self, record: InstanceRecord, inbox: list[Message]) -> None:
        """Put the start of a Pending instance that never ran (its row is the only trace) ahead
        of its inbox, where events raised before the crash wait for it."""
        if record.runtime_status != OrchestrationStatus.Pending:
            return
        for message in inbox:
            event = message.event
            if (
                event["EventType"] == EventType.ExecutionStarted
                and event["OrchestrationInstance"]["ExecutionId"] == record.execution_id
            ):
                return  # a sub-orchestration's start, with its parent link, is in the inbox
        started = h.execution_started(
            record.created_time, record.instance_id, record.execution_id, record.name, record.input
        )
        inbox.insert(0, Message(record.instance_id, started, None, record.execution_id))

    async def _recover_child(self, parent: InstanceRecord, sequence_id: int, event: Event) -> None:
        child_id = str(event["InstanceId"])
        child = await self.store.get_instance(child_id)
        if child is None:
            input_text = json.loads(event["Input"]) if event.get("Input") else None
            work = NewSubOrchestration(sequence_id, event["Name"], child_id, input_text)
            await self._start_child(parent, work)
        elif child.runtime_status in (OrchestrationStatus.Completed, OrchestrationStatus.Failed):
            link = {
                "OrchestrationInstance": {
                    "InstanceId": parent.instance_id,
                    "ExecutionId": parent.execution_id,
                },
                "TaskScheduleId": sequence_id,
            }
            await self._notify_parent(link, child)


def _fits_in_a_row(event: Event) -> bool:
    """Whether every text of the event fits in a table property (its other values are small)."""
    return all(fits_in_a_property(value) for value in event.values() if isinstance(value, str))


def reconcile(record: InstanceRecord, execution_id: str, events: list[Event]) -> InstanceRecord:
    """The status row as the history says it must be (identical when the row is up to date)."""
    fixed = dataclasses.replace(record, execution_id=execution_id)
    status = OrchestrationStatus.Running
    for event in events:
        kind = event["EventType"]
        if kind == EventType.ExecutionStarted:
            fixed.name = event["Name"]
            fixed.input = event.get("Input")
        elif kind == EventType.ExecutionSuspended:
            status = OrchestrationStatus.Suspended
        elif kind == EventType.ExecutionResumed:
            status = OrchestrationStatus.Running
        elif kind == EventType.ExecutionCompleted:
            status = OrchestrationStatus(event["OrchestrationStatus"])
            if fixed.runtime_status != status:
                fixed.output = event.get("Result")
                fixed.completed_time = h.parse_timestamp(event["Timestamp"])
    if fixed.runtime_status != status:
        fixed.runtime_status = status
        fixed.last_updated_time = h.parse_timestamp(events[-1]["Timestamp"])
    return fixed
