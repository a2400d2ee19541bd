"""One orchestration episode as a pure step: an execution's state, its new messages and the time
in; the events to append, the work to dispatch and the new status out.

Nothing here touches storage, the event loop or the clock: the engine loads the state, passes the
messages and `now`, calls `decide` (on a worker thread, since it runs the orchestrator), then
checkpoints and dispatches what came out. The orchestrator itself is a plain function from the
context JSON to the state JSON, so a test can run an episode on a hand-made history.

What an episode does, as the real host does it: apply the messages as history events (once-only
messages by their inbox id, completions only for work this execution scheduled and has not seen
completed, suspension parking everything but resume and terminate), call the orchestrator with the
whole history, replay its actions against that history (`replay.plan_episode`) to find the new
work and its sequence ids, and decide how the execution stands: Running, Completed (once nothing
it started is still open), Failed, ContinuedAsNew into a fresh execution, or Terminated.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from durable_host import history as h
from durable_host.contracts import FunctionInvocationError, FunctionKind
from durable_host.history import Event, EventType, OrchestrationStatus
from durable_host.replay import NewActivity, NewSubOrchestration, NewTimer, Plan, plan_episode
from durable_host.store import InstanceRecord, fits_in_a_property

# Azure Storage's defaults, sent to the SDK so that it splits long timers as the real host does.
LONG_TIMER_INTERVAL = "3.00:00:00"
MAXIMUM_SHORT_TIMER = "6.00:00:00"

RUNNING_STATUSES = frozenset(
    {OrchestrationStatus.Running, OrchestrationStatus.Pending, OrchestrationStatus.Suspended}
)
# Messages that are not idempotent by themselves; their inbox row key is kept in the history.
_ONCE_ONLY = frozenset(
    {
        EventType.EventRaised,
        EventType.ExecutionTerminated,
        EventType.ExecutionSuspended,
        EventType.ExecutionResumed,
    }
)

# (orchestrator name, context JSON) -> orchestrator state JSON; raises FunctionInvocationError.
OrchestratorCall = Callable[[str, str], str]
KindOf = Callable[[str], FunctionKind | None]


@dataclass
class Message:
    """An event for one instance; `row_key` is its inbox row when it was stored durably."""

    instance_id: str
    event: Event
    row_key: str | None = None
    execution_id: str | None = None


@dataclass
class Execution:
    """What an episode needs of an instance: its status row and its current execution's history,
    indexed by sequence id."""

    record: InstanceRecord
    history: list[Event] = field(default_factory=list)
    closed: set[int] = field(default_factory=set)
    scheduled: dict[int, Event] = field(default_factory=dict)
    applied_messages: set[str] = field(default_factory=set)
    # What the last replay found still open (None until an orchestrator ran in this process):
    # unlike the history, it knows which timers the orchestrator cancelled.
    open_tasks: set[int] | None = None
    # How many of `history`'s events are in storage (the rest are an episode that waits for
    # work still open to be written with the next one), and the status the stored row says.
    persisted: int = 0
    stored_status: OrchestrationStatus | None = None

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
    def parent(self) -> dict[str, Any] | None:
        return parent_link(self.history)

    def outstanding(self) -> list[tuple[int, Event]]:
        """Scheduled work with no completion yet, by sequence id (what recovery re-dispatches:
        a timer the orchestrator cancelled may be among it, and firing it changes nothing)."""
        return [(key, event) for key, event in self.scheduled.items() if key not in self.closed]

    def waiting_on(self) -> list[tuple[int, Event]]:
        """What the instance waits on: outstanding work, less the timers it cancelled."""
        return [
            (key, event)
            for key, event in self.outstanding()
            if self.open_tasks is None or key in self.open_tasks
        ]


@dataclass
class Decision:
    """What one episode decided, applied to memory and dispatched only after the checkpoint."""

    execution: Execution
    record: InstanceRecord
    events: list[Event]
    fresh_execution: bool
    consumed: list[Message]
    parked: list[Message]
    activities: list[NewActivity] = field(default_factory=list)
    timers: list[NewTimer] = field(default_factory=list)
    children: list[NewSubOrchestration] = field(default_factory=list)
    unparked: bool = False
    open_tasks: set[int] | None = None

    def clear_work(self) -> None:
        self.activities.clear()
        self.timers.clear()
        self.children.clear()


def decide(
    execution: Execution,
    messages: list[Message],
    parked: list[Message],
    now: datetime,
    call: OrchestratorCall,
    kind_of: KindOf,
) -> Decision:
    """Apply `messages` to the execution (and `parked` ones too, when a resume arrives) and run
    the orchestrator if anything it waits on happened. Nothing given is mutated."""
    record = dataclasses.replace(execution.record)
    decision = Decision(execution, record, [h.orchestrator_started(now)], False, [], [])
    new_events: list[Event] = []
    closing: set[int] = set()
    should_run = False
    # Whether an execution exists to apply messages to (one may start in this very batch).
    active = bool(execution.history)
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
            decision.consumed.append(message)
            current = active and record.execution_id == execution_id
            if current or (active and record.runtime_status in RUNNING_STATUSES):
                continue
            active = True
            execution = decision.execution = Execution(record)
            record.execution_id = execution_id
            record.name = event["Name"]
            record.input = event.get("Input")
            record.output = None
            record.custom_status = None
            record.completed_time = None
            record.runtime_status = OrchestrationStatus.Running
            decision.fresh_execution = True
            decision.events = [h.orchestrator_started(now)]
            new_events = [event]
            closing.clear()
            should_run = True
            continue
        if not active or record.is_terminal:
            decision.consumed.append(message)
            continue
        if record.runtime_status == OrchestrationStatus.Suspended and kind not in (
            EventType.ExecutionResumed,
            EventType.ExecutionTerminated,
        ):
            decision.parked.append(message)
            continue
        decision.consumed.append(message)
        if kind in _ONCE_ONLY and message.row_key is not None:
            if message.row_key in execution.applied_messages:
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
                queue[:0] = [*parked, *decision.parked]
                parked = []
                decision.parked = []
                decision.unparked = True
        elif kind == EventType.EventRaised:
            new_events.append(event)
            should_run = True
        else:
            key = h.completion_key(event)
            if (
                key is None
                or message.execution_id not in (None, record.execution_id)
                or key not in execution.scheduled
                or key in execution.closed
                or key in closing
            ):
                continue
            closing.add(key)
            new_events.append(event)
            should_run = True
    if not new_events and not decision.fresh_execution:
        # Only duplicates or messages to drop: nothing to run or to write.
        decision.events = []
        decision.record = execution.record
        return decision
    decision.events += new_events
    if should_run and record.runtime_status == OrchestrationStatus.Running:
        _run_orchestrator(decision, now, call, kind_of)
    record.last_updated_time = now
    if record.is_terminal and record.completed_time is None:
        record.completed_time = now
    decision.events.append(h.orchestrator_completed(now))
    return decision


def _run_orchestrator(
    decision: Decision, now: datetime, call: OrchestratorCall, kind_of: KindOf
) -> None:
    """Call the orchestrator (again after each continue-as-new) and record what it decided."""
    record = decision.record
    while True:
        execution = decision.execution
        history = execution.history + decision.events
        state = _call_orchestrator(record, history, call)
        custom_status = state.get("customStatus")
        if custom_status is not None:
            record.custom_status = json.dumps(custom_status)
        error = state.get("error")
        if error:
            fail(decision, now, len(execution.scheduled), str(error))
            return
        plan = plan_episode(history, state, record.execution_id, now)
        if plan.error is None:
            plan.error = _missing_function(plan, kind_of)
        if plan.error is not None:
            fail(decision, now, plan.next_sequence_id, plan.error)
            return
        _record_work(decision, plan, now)
        decision.open_tasks = plan.open_tasks
        if not state.get("isDone"):
            return
        if plan.continues_as_new:
            _continue_as_new(decision, plan, history, now)
            continue
        if not plan.may_complete:
            # As DurableTask does: the instance stays Running until everything it started has
            # completed (or a replay cancels a timer), and the orchestrator is called again then.
            return
        output = json.dumps(state["output"]) if "output" in state else None
        decision.events.append(
            h.execution_completed(now, plan.next_sequence_id, OrchestrationStatus.Completed, output)
        )
        record.runtime_status = OrchestrationStatus.Completed
        record.output = output
        return


def _call_orchestrator(
    record: InstanceRecord, history: list[Event], call: OrchestratorCall
) -> dict[str, Any]:
    parent = parent_link(history)
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
        text = call(record.name, json.dumps(context))
        state = json.loads(text)
    except (FunctionInvocationError, ValueError) as error:
        return {"isDone": False, "actions": [], "error": str(error)}
    if not isinstance(state, dict):
        return {"isDone": False, "actions": [], "error": f"invalid orchestrator state {text!r}"}
    return state


def _missing_function(plan: Plan, kind_of: KindOf) -> str | None:
    for work in plan.work:
        if isinstance(work, NewActivity) and kind_of(work.name) is not FunctionKind.ACTIVITY:
            return (
                f"The function '{work.name}' doesn't exist, is disabled, or is not an "
                "activity function."
            )
        if (
            isinstance(work, NewSubOrchestration)
            and kind_of(work.name) is not FunctionKind.ORCHESTRATOR
        ):
            return (
                f"The function '{work.name}' doesn't exist, is disabled, or is not an "
                "orchestrator function."
            )
    return None


def fail(decision: Decision, now: datetime, event_id: int, error: str) -> None:
    """End the execution Failed, with the reason worded as the real host words it."""
    record = decision.record
    prefix = f"Orchestrator function '{record.name}' failed: "
    # The invoker already words failures of the function itself this way.
    reason = error if error.startswith(prefix) else prefix + error
    decision.events.append(h.execution_completed(now, event_id, OrchestrationStatus.Failed, reason))
    record.runtime_status = OrchestrationStatus.Failed
    record.output = reason
    decision.clear_work()


def failed_as_too_large(decision: Decision, now: datetime, error: str) -> Decision:
    """What was decided cannot be stored: keep the small events and fail the instance."""
    record = dataclasses.replace(decision.record, custom_status=None)
    # The work it started and how it ended go; what it applied stays, where it fits.
    dropped = {*h.SCHEDULING_TYPES, EventType.ExecutionCompleted, EventType.OrchestratorCompleted}
    kept = [e for e in decision.events if e["EventType"] not in dropped and fits_in_a_row(e)]
    failed = dataclasses.replace(
        decision, record=record, events=kept, activities=[], timers=[], children=[]
    )
    fail(failed, now, -1, error)
    record.completed_time = now
    failed.events.append(h.orchestrator_completed(now))
    return failed


def _record_work(decision: Decision, plan: Plan, now: datetime) -> None:
    for work in plan.work:
        if isinstance(work, NewActivity):
            decision.events.append(
                h.task_scheduled(now, work.sequence_id, work.name, work.input_text)
            )
            decision.activities.append(work)
        elif isinstance(work, NewTimer):
            decision.events.append(h.timer_created(now, work.sequence_id, work.fire_at))
            if not work.cancelled:
                decision.timers.append(work)
        else:
            # Sub-orchestration inputs are stored as the JSON string of the input text,
            # as the real host stores any input that arrives as JSON text.
            stored_input = json.dumps(work.input_text)
            decision.events.append(
                h.sub_orchestration_created(
                    now, work.sequence_id, work.name, work.instance_id, stored_input
                )
            )
            decision.children.append(work)


def _continue_as_new(decision: Decision, plan: Plan, history: list[Event], now: datetime) -> None:
    """Start the next execution in place; raised events it did not wait for carry over."""
    record = decision.record
    carried: list[Event] = []
    raised: dict[str, list[Event]] = defaultdict(list)
    for event in history:
        if event["EventType"] == EventType.EventRaised:
            raised[str(event.get("Name"))].append(event)
    for name, events in raised.items():
        carried += events[plan.waits_by_name.get(name, 0) :]
    execution_id = new_execution_id()
    stored_input = json.dumps(plan.continue_as_new_input)
    # From the history given, not the execution's: one that started in this very episode has
    # its ExecutionStarted among the episode's events.
    started = h.execution_started(
        now, record.instance_id, execution_id, record.name, stored_input, parent_link(history)
    )
    record.execution_id = execution_id
    record.input = stored_input
    record.runtime_status = OrchestrationStatus.Running
    decision.execution = Execution(record)
    decision.fresh_execution = True
    decision.events = [h.orchestrator_started(now), started, *carried]
    decision.clear_work()


def parent_link(history: list[Event]) -> dict[str, Any] | None:
    """The link a sub-orchestration's ExecutionStarted keeps to its parent (None at top level)."""
    started = next((e for e in history if e["EventType"] == EventType.ExecutionStarted), None)
    return started.get("ParentInstance") if started else None


def new_execution_id() -> str:
    return uuid.uuid4().hex


def fits_in_a_row(event: Event) -> bool:
    """Whether every text of the event fits in a table property (its other values are small)."""
    return all(fits_in_a_property(value) for value in event.values() if isinstance(value, str))


def reconcile(
    record: InstanceRecord, execution_id: str, events: list[Event], custom_status: str | None
) -> InstanceRecord:
    """The status row as the history (and the custom status checkpointed with it) says it must
    be: identical when the row is up to date."""
    fixed = dataclasses.replace(record, execution_id=execution_id, custom_status=custom_status)
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
    last = h.parse_timestamp(events[-1]["Timestamp"])
    if last > fixed.last_updated_time:
        fixed.last_updated_time = last
    return fixed
