"""Match the SDK's actions to the history: which sequence ids are old, which work is new.

The SDK (schema V3) returns one flat list of every action the orchestrator ever scheduled, with
explicit WhenAll/WhenAny nodes, but no sequence ids. Ids are handed out by a counter in the order
the orchestrator reached each call, and retries take extra ids (a timer after each failed attempt,
then the next attempt) at the moment a failure or a retry timer is replayed. So the ids can only
be recovered by replaying the actions against the history event by event, as DurableTask does:
each top-level action starts once the one before it has settled, and completions, timers and
raised events settle them in history order.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from durable_host.history import (
    SCHEDULING_TYPES,
    Event,
    EventType,
    completion_key,
    parse_timestamp,
)


class ActionType:
    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


_UNSUPPORTED = {
    ActionType.CALL_ENTITY: "call_entity",
    ActionType.CALL_HTTP: "call_http",
    ActionType.SIGNAL_ENTITY: "signal_entity",
}


@dataclass(frozen=True)
class NewActivity:
    sequence_id: int
    name: str
    input_text: str


@dataclass(frozen=True)
class NewTimer:
    sequence_id: int
    fire_at: datetime
    cancelled: bool = False


@dataclass(frozen=True)
class NewSubOrchestration:
    sequence_id: int
    name: str
    instance_id: str
    input_text: str | None


Work = NewActivity | NewTimer | NewSubOrchestration


@dataclass
class Plan:
    """New work in sequence-id order, the id the completion takes, or why the replay is invalid."""

    work: list[Work] = field(default_factory=list)
    next_sequence_id: int = 0
    error: str | None = None
    continue_as_new_input: str | None = None
    continues_as_new: bool = False
    waits_by_name: dict[str, int] = field(default_factory=dict)
    # Activities, sub-orchestrations and timers taken and not yet completed (a cancelled timer
    # completes at once). DurableTask.Core completes no instance while any is open
    # (TaskOrchestrationExecutor: `if (!this.context.HasOpenTasks)`).
    open_tasks: set[int] = field(default_factory=set)
    # Whether the host's replay of the actions reached the end: OutOfProcOrchestrationShim awaits
    # each top-level action in turn and sets the output only after the last one completed.
    replayed_to_end: bool = True

    @property
    def may_complete(self) -> bool:
        """Whether an orchestrator that says it is done completes now on the real host."""
        return self.replayed_to_end and not self.open_tasks


def flatten_actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The top-level actions of an orchestrator state (V2/V3 send one inner list)."""
    return [action for group in state.get("actions") or [] for action in group or []]


_KIND_NAMES = {
    EventType.TaskScheduled: "an activity",
    EventType.SubOrchestrationInstanceCreated: "a sub-orchestration",
    EventType.TimerCreated: "a timer",
    EventType.EventSent: "an entity message",
}


def _describe(kind: EventType, name: str | None) -> str:
    label = _KIND_NAMES.get(kind, kind.name)
    return f"{label} '{name}'" if name else label


class _Node:
    def __init__(self, replay: _Replay) -> None:
        self.replay = replay
        self.parent: _Compound | None = None
        self.done = False
        self.failed = False

    def invoke(self) -> None:
        raise NotImplementedError

    def on_event(self, role: str, event: Event) -> None:
        """A completion for one of the ids this node took."""

    def finish(self, failed: bool) -> None:
        if self.done:
            return
        self.done = True
        self.failed = failed
        if self.parent is not None:
            self.parent.child_finished(self)


class _Task(_Node):
    """One activity, sub-orchestration or timer; with retry options, a chain of attempts."""

    def __init__(self, replay: _Replay, action: dict[str, Any]) -> None:
        super().__init__(replay)
        self.action = action
        kind = action["actionType"]
        self.is_timer = kind == ActionType.CREATE_TIMER
        self.is_sub = kind in (
            ActionType.CALL_SUB_ORCHESTRATOR,
            ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
        )
        retry = action.get("retryOptions") if kind in (1, 3) else None
        self.max_attempts = int(retry["maxNumberOfAttempts"]) if retry else 1
        self.retry_interval = (
            timedelta(milliseconds=int(retry["firstRetryIntervalInMilliseconds"]))
            if retry
            else timedelta(0)
        )
        self.has_retry = retry is not None
        self.attempts = 0

    def invoke(self) -> None:
        if self.is_timer:
            cancelled = bool(self.action.get("isCanceled"))
            fire_at = parse_timestamp(self.action["fireAt"])
            self.replay.take_id(self, "timer", EventType.TimerCreated, None, fire_at, cancelled)
            if cancelled:
                self.finish(False)
            return
        self._attempt()

    def _attempt(self) -> None:
        self.attempts += 1
        kind = EventType.SubOrchestrationInstanceCreated if self.is_sub else EventType.TaskScheduled
        self.replay.take_id(self, "attempt", kind, self.action["functionName"], None, False)

    def on_event(self, role: str, event: Event) -> None:
        kind = event["EventType"]
        if role == "timer":
            if not self.has_retry:
                self.finish(False)
            elif self.attempts >= self.max_attempts:
                self.finish(True)
            else:
                self._attempt()
            return
        if kind in (EventType.TaskCompleted, EventType.SubOrchestrationInstanceCompleted):
            self.finish(False)
        elif not self.has_retry:
            self.finish(True)
        else:
            # DurableTask schedules a retry timer after every failed attempt, the last included
            # (that one fires at once), and only then reports the failure.
            last = self.attempts >= self.max_attempts
            fire_at = self.replay.now + (timedelta(0) if last else self.retry_interval)
            self.replay.take_id(self, "timer", EventType.TimerCreated, None, fire_at, False)


class _Wait(_Node):
    def __init__(self, replay: _Replay, name: str) -> None:
        super().__init__(replay)
        self.name = name

    def invoke(self) -> None:
        self.replay.wait_for(self)


class _Compound(_Node):
    def __init__(self, replay: _Replay, children: list[_Node], wait_all: bool) -> None:
        super().__init__(replay)
        self.children = children
        self.wait_all = wait_all
        for child in children:
            child.parent = self

    def invoke(self) -> None:
        for child in self.children:
            child.invoke()
        if not self.children:
            self.finish(False)

    def child_finished(self, child: _Node) -> None:
        # As the host replays them (Task.WhenAny / Task.WhenAll): task_any settles with its
        # first child, task_all once every child has settled, failed or not. (The SDK's task_all
        # raises at the first failure; orchestrators that act on that before the other children
        # settle are numbered differently by the real host too.)
        if not self.wait_all:
            self.finish(child.failed)
        elif all(sibling.done for sibling in self.children):
            self.finish(any(sibling.failed for sibling in self.children))


class _Replay:
    def __init__(self, history: list[Event], execution_id: str, now: datetime, plan: Plan) -> None:
        self.history = history
        self.execution_id = execution_id
        self.now = now
        self.plan = plan
        self.counter = 0
        self.recorded: dict[int, Event] = {
            int(event["EventId"]): event
            for event in history
            if event["EventType"] in SCHEDULING_TYPES
        }
        self.owners: dict[int, tuple[_Node, str]] = {}
        self.early: dict[int, Event] = {}
        self.waiters: dict[str, deque[_Wait]] = defaultdict(deque)
        self.buffered: dict[str, int] = defaultdict(int)

    def build(self, action: dict[str, Any]) -> _Node:
        kind = action["actionType"]
        if kind in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            children = [self.build(child) for child in action.get("compoundActions") or []]
            return _Compound(self, children, wait_all=kind == ActionType.WHEN_ALL)
        if kind == ActionType.WAIT_FOR_EXTERNAL_EVENT:
            name = str(action["externalEventName"])
            self.plan.waits_by_name[name] = self.plan.waits_by_name.get(name, 0) + 1
            return _Wait(self, name)
        if kind in _UNSUPPORTED:
            raise _Unsupported(_UNSUPPORTED[kind])
        return _Task(self, action)

    def take_id(
        self,
        node: _Task,
        role: str,
        kind: EventType,
        name: str | None,
        fire_at: datetime | None,
        cancelled: bool,
    ) -> None:
        sequence_id = self.counter
        self.counter += 1
        if not cancelled:
            self.plan.open_tasks.add(sequence_id)
        recorded = self.recorded.pop(sequence_id, None)
        if recorded is None:
            self.plan.work.append(self._new_work(node, sequence_id, kind, fire_at, cancelled))
        else:
            recorded_kind = EventType(recorded["EventType"])
            recorded_name = recorded.get("Name")
            if recorded_kind != kind or (
                name is not None and str(recorded_name).lower() != name.lower()
            ):
                self.fail(
                    f"history has {_describe(recorded_kind, recorded_name)} at sequence id "
                    f"{sequence_id}, but this replay scheduled {_describe(kind, name)} there"
                )
        self.owners[sequence_id] = (node, role)
        early = self.early.pop(sequence_id, None)
        if early is not None:
            self.deliver(early)

    def _new_work(
        self,
        node: _Task,
        sequence_id: int,
        kind: EventType,
        fire_at: datetime | None,
        cancelled: bool,
    ) -> Work:
        action = node.action
        if kind == EventType.TimerCreated:
            assert fire_at is not None
            return NewTimer(sequence_id, fire_at, cancelled)
        if kind == EventType.SubOrchestrationInstanceCreated:
            child_id = action.get("instanceId") or f"{self.execution_id}:{sequence_id}"
            return NewSubOrchestration(
                sequence_id, action["functionName"], child_id, action.get("input")
            )
        return NewActivity(sequence_id, action["functionName"], action.get("input") or "null")

    def wait_for(self, node: _Wait) -> None:
        if self.buffered[node.name] > 0:
            self.buffered[node.name] -= 1
            node.finish(False)
        else:
            self.waiters[node.name].append(node)

    def deliver(self, event: Event) -> None:
        kind = event["EventType"]
        if kind == EventType.EventRaised:
            name = str(event.get("Name"))
            if self.waiters[name]:
                self.waiters[name].popleft().finish(False)
            else:
                self.buffered[name] += 1
            return
        key = completion_key(event)
        if key is None:
            return
        self.plan.open_tasks.discard(key)
        owner = self.owners.pop(key, None)
        if owner is not None:
            node, role = owner
            node.on_event(role, event)
        elif key >= self.counter:
            self.early[key] = event

    def fail(self, detail: str) -> None:
        if self.plan.error is None:
            self.plan.error = (
                f"Non-deterministic orchestrator: {detail}. An orchestrator must make the same "
                "calls in the same order on every replay; was its code changed while this "
                "instance was running?"
            )


class _Unsupported(Exception):
    pass


def plan_episode(
    history: list[Event], state: dict[str, Any], execution_id: str, now: datetime
) -> Plan:
    """Replay the orchestrator's actions against `history` (which ends with this episode's new
    events) and return the work that is new."""
    plan = Plan()
    replay = _Replay(history, execution_id, now, plan)
    actions = flatten_actions(state)
    try:
        nodes = []
        for action in actions:
            if action["actionType"] == ActionType.CONTINUE_AS_NEW:
                plan.continues_as_new = True
                plan.continue_as_new_input = action.get("input")
                continue
            nodes.append(replay.build(action))
    except _Unsupported as unsupported:
        plan.error = (
            f"durable_host does not run {unsupported} actions (entities and durable HTTP calls "
            "need the Durable Functions extension)"
        )
        return plan

    position = 0

    def advance() -> None:
        nonlocal position
        while position < len(nodes) and (position == 0 or nodes[position - 1].done):
            nodes[position].invoke()
            position += 1

    advance()
    for event in history:
        if event["EventType"] == EventType.EventRaised or completion_key(event) is not None:
            replay.deliver(event)
            advance()
    for sequence_id, event in sorted(replay.recorded.items()):
        replay.fail(
            f"history has {_describe(EventType(event['EventType']), event.get('Name'))} at "
            f"sequence id {sequence_id}, but this replay never scheduled it"
        )
        break
    plan.next_sequence_id = replay.counter
    plan.replayed_to_end = position == len(nodes) and (not nodes or nodes[-1].done)
    return plan
