"""The orchestration engine: the impure shell around `episode.decide`.

It keeps dispatch, checkpointing and recovery; what an episode decides is the pure step's. Nothing
acknowledged is acted on before it is durable: a start is its Pending status row, and a raised
event, terminate, suspend, resume or sub-orchestration message is in the store's inbox first.
Activity results and timer firings are not stored on their own: they become durable in the
checkpoint of the episode that applies them, and after a crash before that the activity runs again
(activities run at least once) or the timer is armed again from the history.

Dispatch is in memory: one queue of instances with pending messages (an instance runs one episode
at a time, different instances run in parallel up to max_concurrent_orchestrators) and one queue of
activity work (max_concurrent_activities at a time); timers sit on the clock. An episode takes the
history from memory (loading it only for an instance this process has not seen), decides on a
worker thread (the orchestrator runs there), writes history + sentinel, then the Instances row,
and only then dispatches. As DurableTask does, an orchestrator that returns while anything it
started (an activity, a sub-orchestration, a timer neither fired nor cancelled) is still open
leaves the instance Running until that work completes. Consumed inbox rows are deleted in batches
later; one delivered again is recognised and dropped. Finished instances' status rows stay in
memory for a while, so the last status polls of a client cost no storage request. A restart
rebuilds the in-memory part from storage, history being the source of truth.

Time comes from the clock the engine is given (the system clock, or a virtual one), and the work it
has in flight is reported to a WorkTracker, so a virtual clock knows when nothing runs.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from durable_host import history as h
from durable_host.clock import Clock, SystemClock, TimerHandle, WorkTracker
from durable_host.contracts import ActivityError, FunctionInvoker, FunctionKind
from durable_host.episode import (
    RUNNING_STATUSES,
    Decision,
    Execution,
    Message,
    decide,
    failed_as_too_large,
    fits_in_a_row,
    new_execution_id,
    reconcile,
)
from durable_host.history import Event, EventType, OrchestrationStatus
from durable_host.replay import NewActivity, NewSubOrchestration
from durable_host.store import (
    UNFINISHED,
    InstanceQuery,
    InstanceRecord,
    TaskHubStore,
    ValueTooLargeError,
)

log = logging.getLogger("durable_host.engine")

RETRY_DELAY = timedelta(seconds=1)
# Consumed inbox rows are deleted in batches: after this many, when the execution ends, or when
# a new one starts. Until then a re-delivered row is recognised by its id in the history.
INBOX_DELETE_BATCH = 50
# How many finished instances' status rows are kept in memory for the status API.
FINISHED_KEPT = 4096


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


class Engine:
    """Runs the orchestrations of one task hub against one app (through a FunctionInvoker)."""

    def __init__(
        self,
        store: TaskHubStore,
        options: EngineOptions,
        invoker: FunctionInvoker,
        clock: Clock | None = None,
        tracker: WorkTracker | None = None,
    ) -> None:
        self.store = store
        self.options = options
        self.invoker = invoker
        self.clock: Clock = clock or SystemClock()
        self.tracker = tracker or WorkTracker()
        self._cache: dict[str, Execution] = {}
        self._finished: OrderedDict[str, InstanceRecord] = OrderedDict()
        self._pending: dict[str, list[Message]] = defaultdict(list)
        self._parked: dict[str, list[Message]] = defaultdict(list)
        self._queued: set[str] = set()
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._activities: asyncio.Queue[tuple[str, str, NewActivity]] = asyncio.Queue()
        self._timers: set[TimerHandle] = set()
        # Durable timers armed on the clock, by instance and sequence id, so that a timer the
        # orchestrator cancelled, or one of an instance that ended, is disarmed: its firing
        # would only wake the instance for nothing (and load a finished one back).
        self._armed: dict[str, dict[int, TimerHandle]] = defaultdict(dict)
        self._workers: list[asyncio.Task[None]] = []
        self._start_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._undeleted: dict[str, list[str]] = defaultdict(list)
        self._episodes = ThreadPoolExecutor(
            max_workers=options.max_concurrent_orchestrators, thread_name_prefix="episode"
        )
        self._busy = 0
        self._observers: list[Callable[[InstanceRecord], None]] = []
        self._started = False

    @property
    def hub_name(self) -> str:
        return self.options.hub_name

    def now(self) -> datetime:
        return self.clock.now()

    async def start(self) -> None:
        """Recover in-flight work from storage, then start dispatching."""
        if self._started:
            return
        self._started = True
        self.tracker.bind(asyncio.get_running_loop())
        with self.tracker.busy():
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
        self._episodes.shutdown(wait=False, cancel_futures=True)
        # Work that was queued or running is abandoned (it resumes from storage on the next
        # start): a clock waiting for this engine to go idle must not wait for it.
        while self._busy:
            self._end()
        self._started = False
        await self.store.close()

    def watch(self, observer: Callable[[InstanceRecord], None]) -> None:
        """Call `observer` with an instance's status each time an episode of it has checkpointed
        (a test waiting for a status wakes then instead of polling)."""
        self._observers.append(observer)

    def open_work(self, instance_id: str) -> list[str]:
        """What an instance is waiting on, in words (for a test's timeout message)."""
        execution = self._cache.get(instance_id)
        if execution is None:
            return []
        described = []
        for sequence_id, event in execution.waiting_on():
            kind = EventType(event["EventType"])
            if kind == EventType.TimerCreated:
                described.append(f"timer {sequence_id} due {event['FireAt']}")
            elif kind == EventType.TaskScheduled:
                described.append(f"activity {event['Name']!r} ({sequence_id})")
            elif kind == EventType.SubOrchestrationInstanceCreated:
                described.append(f"sub-orchestration {event['InstanceId']!r} ({sequence_id})")
        return described

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
            with self.tracker.busy():
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
        execution = self._cache.get(instance_id)
        if execution is not None:
            return execution.record
        return self._finished.get(instance_id)

    def _remember_finished(self, record: InstanceRecord) -> None:
        self._finished[record.instance_id] = record
        self._finished.move_to_end(record.instance_id)
        while len(self._finished) > FINISHED_KEPT:
            self._finished.popitem(last=False)

    async def get_history(self, instance_id: str) -> list[Event]:
        execution = self._cache.get(instance_id)
        if execution is not None:
            return list(execution.history)
        return (await self.store.load_history(instance_id)).events

    async def raise_event(self, instance_id: str, name: str, input_text: str | None) -> None:
        await self._send(instance_id, h.event_raised(self.now(), name, input_text))

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        await self._send(instance_id, h.execution_terminated(self.now(), reason))

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        await self._send(instance_id, h.execution_suspended(self.now(), reason))

    async def resume(self, instance_id: str, reason: str | None) -> None:
        await self._send(instance_id, h.execution_resumed(self.now(), reason))

    async def restart(self, instance_id: str, new_instance_id: str | None) -> str:
        """Start the instance's orchestration again with its original input."""
        record = await self.get_status(instance_id)
        if record is None:
            raise KeyError(instance_id)
        return await self.start_new(record.name, new_instance_id or instance_id, record.input)

    async def query(
        self, query: InstanceQuery, top: int | None, continuation: str | None
    ) -> tuple[list[InstanceRecord], str | None]:
        """The store's answer, with what this process knows newer: a running instance's row is
        written when its runtime status changes, not its custom status at every episode."""
        records, token = await self.store.query_instances(query, top, continuation)
        return [self._status_in_memory(r.instance_id) or r for r in records], token

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
        with self.tracker.busy():
            row_key = await self.store.add_message(instance_id, event, execution_id)
            self._enqueue(Message(instance_id, event, row_key, execution_id))

    def _enqueue(self, message: Message) -> None:
        self._pending[message.instance_id].append(message)
        self._wake(message.instance_id)

    def _wake(self, instance_id: str) -> None:
        if instance_id not in self._queued:
            self._queued.add(instance_id)
            self._begin()
            self._ready.put_nowait(instance_id)

    def _done_with(self, instance_id: str) -> None:
        self._queued.discard(instance_id)
        self._end()

    def _begin(self) -> None:
        self._busy += 1
        self.tracker.begin()

    def _end(self) -> None:
        self._busy -= 1
        self.tracker.end()

    async def _create_instance(
        self, name: str, instance_id: str, input_text: str | None, parent: dict[str, Any] | None
    ) -> None:
        """Record a start durably, then queue it; InstanceExistsError if the id is in use.

        The Pending status row is the durable promise: after a crash, recovery starts any Pending
        row whose execution has no history. A sub-orchestration's start also goes to the inbox
        first, since only the message carries the link back to its parent.
        """
        now = self.now()
        execution_id = new_execution_id()
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
        self._cache[instance_id] = Execution(record, stored_status=record.runtime_status)
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
                execution = self._cache.get(instance_id)
                if execution is None or execution.persisted == len(execution.history):
                    # Reload from storage, unless memory holds an episode storage does not
                    # (one waiting to be written with the next): reloading would lose it, and
                    # an episode that failed before its commit left the cached state unchanged.
                    self._cache.pop(instance_id, None)
                self._pending[instance_id][:0] = messages
                self._later(RETRY_DELAY, functools.partial(self._wake, instance_id))
                self._done_with(instance_id)
                continue
            if self._pending.get(instance_id):
                self._ready.put_nowait(instance_id)
            else:
                self._pending.pop(instance_id, None)
                self._done_with(instance_id)

    async def _activity_worker(self) -> None:
        while True:
            instance_id, execution_id, work = await self._activities.get()
            try:
                result = await self.invoker.run_activity(work.name, work.input_text)
                event = h.task_completed(self.now(), work.sequence_id, result)
            except asyncio.CancelledError:
                raise
            except ActivityError as error:
                event = h.task_failed(self.now(), work.sequence_id, error.reason, error.details)
            except Exception as error:
                reason = f"Activity function '{work.name}' failed: {error}"
                event = h.task_failed(self.now(), work.sequence_id, reason, None)
            if not fits_in_a_row(event):
                # Fail the activity, not the episode that would try to store its result.
                too_large = ValueTooLargeError(
                    f"The result of activity '{work.name}' for instance '{instance_id}'"
                )
                event = h.task_failed(self.now(), work.sequence_id, str(too_large), None)
            # Durable with the checkpoint that applies it; until then a crash re-runs the activity.
            self._enqueue(Message(instance_id, event, None, execution_id))
            self._end()

    def _schedule_activity(self, instance_id: str, execution_id: str, work: NewActivity) -> None:
        self._begin()
        self._activities.put_nowait((instance_id, execution_id, work))

    def _later(self, delay: timedelta, callback: Callable[[], None]) -> None:
        self._at(self.now() + delay, callback)

    def _at(self, when: datetime, callback: Callable[[], None]) -> TimerHandle:
        def run() -> None:
            self._timers.discard(handle)
            callback()

        handle = self.clock.call_at(when, run)
        self._timers.add(handle)
        return handle

    def _arm_timer(self, instance_id: str, execution_id: str, timer_id: int, fire_at: str) -> None:
        def fire() -> None:
            armed = self._armed.get(instance_id)
            if armed is not None:
                armed.pop(timer_id, None)
            event = h.timer_fired(self.now(), timer_id, fire_at)
            self._enqueue(Message(instance_id, event, None, execution_id))

        self._armed[instance_id][timer_id] = self._at(h.parse_timestamp(fire_at), fire)

    def _disarm(self, instance_id: str, keep: set[int] | None) -> None:
        """Cancel the instance's armed timers, all of them or all but `keep`."""
        armed = self._armed.get(instance_id)
        if armed is None:
            return
        for timer_id in [t for t in armed if keep is None or t not in keep]:
            handle = armed.pop(timer_id)
            handle.cancel()
            self._timers.discard(handle)
        if not armed:
            del self._armed[instance_id]

    # Episodes

    async def _execution(self, instance_id: str) -> Execution | None:
        execution = self._cache.get(instance_id)
        if execution is not None:
            return execution
        record = await self.store.get_instance(instance_id)
        if record is None:
            return None
        execution_id, events, custom_status = await self.store.load_history(instance_id)
        execution = Execution(record, stored_status=record.runtime_status)
        # History is the source of truth. The Instances row can lag behind it (a crash between
        # the two writes, or a row written only when the runtime status changes), except for a
        # Pending row, which is a new start not yet run.
        pending_start = (
            record.runtime_status == OrchestrationStatus.Pending
            and execution_id != record.execution_id
        )
        if execution_id is not None and events and not pending_start:
            execution.record = reconcile(record, execution_id, events, custom_status)
            execution.remember(events)
            execution.persisted = len(events)
        self._cache[instance_id] = execution
        return execution

    async def _run_episode(self, instance_id: str, messages: list[Message]) -> None:
        execution = await self._execution(instance_id)
        if execution is None:
            log.warning(
                "Dropping %d message(s) for unknown instance %r", len(messages), instance_id
            )
            await self._delete_consumed(instance_id, messages)
            return
        now = self.now()
        parked = list(self._parked.get(instance_id, []))
        step = functools.partial(
            decide,
            execution,
            messages,
            parked,
            now,
            self.invoker.call_orchestrator,
            self.invoker.kind_of,
        )
        decision = await asyncio.get_running_loop().run_in_executor(self._episodes, step)
        try:
            written = await self._checkpoint(decision)
        except ValueTooLargeError as error:
            decision = failed_as_too_large(decision, self.now(), str(error))
            written = await self._checkpoint(decision)
        self._commit(decision, written)
        await self._dispatch(decision)

    async def _checkpoint(self, decision: Decision) -> bool:
        """Make the episode durable: its history (with any earlier episode not yet written), the
        status row when the runtime status changed, and the deletion of consumed inbox rows.
        True when it wrote the history; an episode that changed nothing has none to write.

        An episode that started nothing outside the instance (no activity, no sub-orchestration:
        at most durable timers), changed no status, and still waits on open work is not written
        on its own: the episode that work brings writes both. A crash in between loses only what
        an activity's result brought: the activity runs again (as it would had the crash come
        before that result arrived), and replaying that result creates the same timers again."""
        record = decision.record
        execution = decision.execution
        instance_id = record.instance_id
        consumed = [m.row_key for m in decision.consumed if m.row_key is not None]
        if consumed:
            self._undeleted[instance_id] += consumed
        if not decision.events or self._may_wait(decision):
            return False
        # A fresh execution's state is new and empty: it is written from position 0.
        first = execution.persisted
        await self.store.append_history(
            instance_id,
            record.execution_id,
            first,
            [*execution.history[first:], *decision.events],
            record.custom_status,
        )
        writes = []
        if (
            decision.fresh_execution
            or record.is_terminal
            or record.runtime_status != execution.stored_status
        ):
            writes.append(self.store.put_instance(record))
        undeleted = self._undeleted.get(instance_id, [])
        if undeleted and (
            record.is_terminal or decision.fresh_execution or len(undeleted) >= INBOX_DELETE_BATCH
        ):
            del self._undeleted[instance_id]
            writes.append(self.store.delete_messages(instance_id, list(dict.fromkeys(undeleted))))
        await asyncio.gather(*writes)
        return True

    async def _delete_consumed(self, instance_id: str, messages: list[Message]) -> None:
        keys = [message.row_key for message in messages if message.row_key is not None]
        if keys:
            await self.store.delete_messages(instance_id, keys)

    @staticmethod
    def _may_wait(decision: Decision) -> bool:
        """Whether this episode may be written with the next one (see _checkpoint)."""
        execution = decision.execution
        return bool(
            decision.open_tasks
            and not decision.fresh_execution
            and not decision.record.is_terminal
            and not decision.activities
            and not decision.children
            and decision.record.runtime_status == execution.stored_status
        )

    def _commit(self, decision: Decision, written: bool) -> None:
        execution = decision.execution
        execution.record = decision.record
        execution.remember(decision.events)
        if written:
            # The checkpoint wrote the status row too unless it already had this status.
            execution.persisted = len(execution.history)
            execution.stored_status = decision.record.runtime_status
        if decision.open_tasks is not None:
            execution.open_tasks = decision.open_tasks
        instance_id = decision.record.instance_id
        if decision.unparked:
            self._parked.pop(instance_id, None)
        if decision.parked:
            self._parked[instance_id].extend(decision.parked)
        if decision.record.is_terminal or decision.fresh_execution:
            self._disarm(instance_id, None)
        elif decision.open_tasks is not None:
            self._disarm(instance_id, decision.open_tasks)
        if decision.record.is_terminal:
            self._cache.pop(instance_id, None)
            self._parked.pop(instance_id, None)
            self._remember_finished(decision.record)
        else:
            self._cache[instance_id] = execution
        for observer in self._observers:
            observer(decision.record)

    async def _dispatch(self, decision: Decision) -> None:
        record = decision.record
        for work in decision.activities:
            self._schedule_activity(record.instance_id, record.execution_id, work)
        for timer in decision.timers:
            self._arm_timer(
                record.instance_id,
                record.execution_id,
                timer.sequence_id,
                h.format_timestamp(timer.fire_at),
            )
        for child in decision.children:
            await self._start_child(record, child)
        if record.runtime_status in (OrchestrationStatus.Completed, OrchestrationStatus.Failed):
            await self._notify_parent(decision.execution.parent, record)

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
            event = h.sub_orchestration_failed(self.now(), child.sequence_id, str(error), None)
            await self._send(parent.instance_id, event, parent.execution_id)

    async def _notify_parent(self, parent: dict[str, Any] | None, child: InstanceRecord) -> None:
        if not parent:
            return
        now = self.now()
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
        unfinished, _ = await self.store.query_instances(InstanceQuery(statuses=UNFINISHED))
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
        execution = await self._execution(record.instance_id)
        if execution is None:
            return
        if not execution.history:
            self._recover_start(execution.record, inbox)
            return
        if execution.record != record:
            await self.store.put_instance(execution.record)
            execution.stored_status = execution.record.runtime_status
        record = execution.record
        if record.is_terminal:
            self._cache.pop(record.instance_id, None)
            await self._notify_parent(execution.parent, record)
            return
        delivered = {h.completion_key(message.event) for message in inbox}
        for sequence_id, event in execution.outstanding():
            if sequence_id in delivered:
                continue
            kind = event["EventType"]
            if kind == EventType.TaskScheduled:
                work = NewActivity(sequence_id, event["Name"], h.activity_input(event))
                self._schedule_activity(record.instance_id, record.execution_id, work)
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
