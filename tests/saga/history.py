"""Orchestration histories shaped as the Durable Functions host sends them, and a host to play them.

`play` stands in for the host around a real orchestrator `main`: it builds the context JSON
(PascalCase history events, schema V3, the input as JSON text), passes it through the real
`orchestrationTrigger` converter, turns the actions that come back into TaskScheduled and
TimerCreated events numbered the way DTFx numbers them, and answers each activity attempt from a
script, until the orchestration is done or fails.

One completion is delivered per episode, earliest first on a virtual clock. That keeps the task
ids unambiguous: each new event either makes a retry take its next id (the timer after a failed
attempt, the attempt after that timer) or resumes the orchestrator, never both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions import meta

START = datetime(2026, 1, 1, tzinfo=UTC)
OUT_OF_PROC_LABEL = "\n\n$OutOfProcData$:"

# EventType numbers (DurableTask.Core History/EventType.cs).
EXECUTION_STARTED = 0
TASK_SCHEDULED = 4
TASK_COMPLETED = 5
TASK_FAILED = 6
TIMER_CREATED = 10
TIMER_FIRED = 11
ORCHESTRATOR_STARTED = 12
ORCHESTRATOR_COMPLETED = 13

# actionType numbers the SDK writes.
CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CREATE_TIMER = 5
WHEN_ANY = 11
WHEN_ALL = 12

Event = dict[str, Any]
Orchestrator = Callable[[Any], Any]


def timestamp(at: datetime) -> str:
    """DateTime as .NET writes it: seven fractional digits and Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def fire_at(text: str) -> datetime:
    """Parse an action's fireAt (`%Y-%m-%dT%H:%M:%S.%fZ`)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def event(event_type: int, at: datetime, event_id: int = -1, **fields: Any) -> Event:
    return {
        "EventType": event_type,
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": timestamp(at),
        **fields,
    }


def orchestrator_started(at: datetime) -> Event:
    return event(ORCHESTRATOR_STARTED, at)


def orchestrator_completed(at: datetime) -> Event:
    return event(ORCHESTRATOR_COMPLETED, at)


def execution_started(at: datetime, instance_id: str, name: str, input_text: str) -> Event:
    return event(
        EXECUTION_STARTED,
        at,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": "0" * 31 + "1"},
        ParentInstance=None,
        Name=name,
        Version="",
        Input=input_text,
        Tags=None,
        Correlation=None,
        ScheduledStartTime=None,
        Generation=0,
    )


def task_scheduled(at: datetime, task_id: int, name: str, input_text: str) -> Event:
    # DTFx records an activity's input as a JSON array of its one argument, the SDK's JSON text.
    return event(
        TASK_SCHEDULED,
        at,
        task_id,
        Name=name,
        Version="",
        Input=json.dumps([input_text]),
        Tags=None,
    )


def task_completed(at: datetime, task_id: int, result_text: str) -> Event:
    return event(TASK_COMPLETED, at, TaskScheduledId=task_id, Result=result_text)


def task_failed(at: datetime, task_id: int, name: str, message: str) -> Event:
    details = {
        "$type": "System.Exception, System.Private.CoreLib",
        "ClassName": "System.Exception",
        "Message": message,
    }
    return event(
        TASK_FAILED,
        at,
        TaskScheduledId=task_id,
        Reason=f"Activity function '{name}' failed: {message}",
        Details=json.dumps(details),
        FailureDetails=None,
    )


def timer_created(at: datetime, timer_id: int, fires: datetime) -> Event:
    return event(TIMER_CREATED, at, timer_id, FireAt=timestamp(fires))


def timer_fired(at: datetime, timer_id: int, fires: datetime) -> Event:
    return event(TIMER_FIRED, at, TimerId=timer_id, FireAt=timestamp(fires))


def start_history(instance_id: str, input_text: str, name: str = "OrderSaga") -> list[Event]:
    """The first episode's history: OrchestratorStarted then ExecutionStarted."""
    return [orchestrator_started(START), execution_started(START, instance_id, name, input_text)]


def context_json(instance_id: str, input_text: str | None, history: Sequence[Event]) -> str:
    """The orchestration trigger's payload, with the fields the host sends for schema V3."""
    return json.dumps(
        {
            "history": list(history),
            "instanceId": instance_id,
            "isReplaying": bool(history[1]["IsPlayed"]),
            "parentInstanceId": None,
            "input": input_text,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
            "longRunningTimerIntervalDuration": "3.00:00:00",
            "maximumShortTimerDuration": "6.00:00:00",
            "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
        }
    )


def invoke(main: Orchestrator, context_text: str) -> dict[str, Any]:
    """Call an orchestrator as the worker does and return its state (also when it failed)."""
    converter = meta.get_binding_registry().get("orchestrationTrigger")  # type: ignore[no-untyped-call]
    context = converter.decode(meta.Datum(context_text, "string"), trigger_metadata=None)
    try:
        returned = main(context)
    except Exception as failure:
        message = str(failure)
        if OUT_OF_PROC_LABEL not in message:
            raise
        state: dict[str, Any] = json.loads(message.split(OUT_OF_PROC_LABEL, 1)[1])
        return state
    encoded = converter.encode(returned, expected_type=None)
    state = json.loads(encoded.value)
    return state


def leaves(actions: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Activities and timers in the order the host numbers them: depth first, left to right."""
    for action in actions:
        if action["actionType"] in (WHEN_ALL, WHEN_ANY):
            yield from leaves(action["compoundActions"])
        elif action["actionType"] in (CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY, CREATE_TIMER):
            yield action
        else:
            raise AssertionError(f"this host does not play actionType {action['actionType']}")


# Scripted answers, one per attempt of an activity.


@dataclass(frozen=True)
class Returns:
    value: Any
    after: float = 1.0


@dataclass(frozen=True)
class Raises:
    message: str
    after: float = 1.0


@dataclass(frozen=True)
class Hangs:
    """The attempt never reports back."""


Attempt = Returns | Raises | Hangs
Script = Mapping[str, Sequence[Attempt]]


@dataclass
class Call:
    """One activity attempt the host ran."""

    name: str
    task_id: int
    input: Any
    attempt: int
    scheduled_in: int  # the episode whose actions scheduled it
    settled_in: int | None = None  # the episode its answer was delivered to


@dataclass
class Episode:
    index: int
    state: dict[str, Any]
    delivered: Event | None


@dataclass
class Run:
    episodes: list[Episode]
    calls: list[Call]
    history: list[Event]

    @property
    def final(self) -> dict[str, Any]:
        return self.episodes[-1].state

    @property
    def output(self) -> Any:
        return self.final["output"]

    @property
    def custom_statuses(self) -> list[Any]:
        return [episode.state.get("customStatus") for episode in self.episodes]

    def calls_to(self, name: str) -> list[Call]:
        return [call for call in self.calls if call.name == name]


@dataclass
class _Leaf:
    """One activity or timer the orchestrator asked for; a retried activity spans several ids."""

    action: Mapping[str, Any]
    attempts: int = 0
    cancelled: bool = False

    @property
    def is_timer(self) -> bool:
        return bool(self.action["actionType"] == CREATE_TIMER)

    @property
    def max_attempts(self) -> int:
        options = self.action.get("retryOptions")
        return int(options["maxNumberOfAttempts"]) if options else 1

    @property
    def retry_interval(self) -> timedelta:
        options = self.action.get("retryOptions") or {}
        return timedelta(milliseconds=options.get("firstRetryIntervalInMilliseconds", 0))


@dataclass(order=True)
class _Due:
    at: datetime
    order: int
    make: Callable[[datetime], Event] = field(compare=False)
    leaf: _Leaf = field(compare=False)
    call: Call | None = field(compare=False, default=None)
    retry_timer: bool = field(compare=False, default=False)


class _Host:
    def __init__(
        self, main: Orchestrator, instance_id: str, input_text: str | None, script: Script
    ):
        self.main = main
        self.instance_id = instance_id
        self.input_text = input_text
        self.script = script
        self.now = START
        self.next_id = 0
        self.known: list[_Leaf] = []
        self.due: list[_Due] = []
        self.order = 0
        self.calls: list[Call] = []
        self.history: list[Event] = [
            orchestrator_started(START),
            execution_started(START, instance_id, "OrderSaga", input_text or "null"),
        ]
        self.episodes: list[Episode] = []

    def run(self, max_episodes: int) -> Run:
        delivered: Event | None = None
        follow_up: list[Event] = []
        while len(self.episodes) < max_episodes:
            state = invoke(self.main, context_json(self.instance_id, self.input_text, self.history))
            self.episodes.append(Episode(len(self.episodes), state, delivered))
            if state["isDone"] or state.get("error"):
                return self.result()
            self.history.extend(follow_up)
            self.schedule_new_leaves(state["actions"][0])
            self.history.append(orchestrator_completed(self.now))
            for past in self.history:
                past["IsPlayed"] = past["EventType"] != ORCHESTRATOR_STARTED
            delivered, follow_up = self.deliver_next()
        raise AssertionError(f"not done after {max_episodes} episodes")

    def result(self) -> Run:
        return Run(self.episodes, self.calls, self.history)

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def schedule_new_leaves(self, actions: Sequence[Mapping[str, Any]]) -> None:
        for index, action in enumerate(leaves(actions)):
            if index < len(self.known):
                leaf = self.known[index]
                if (leaf.action["actionType"], leaf.action.get("functionName")) != (
                    action["actionType"],
                    action.get("functionName"),
                ):
                    raise AssertionError(
                        f"non-deterministic replay: {action} replaced {leaf.action}"
                    )
                leaf.cancelled = bool(action.get("isCanceled", False))
                continue
            leaf = _Leaf(action)
            self.known.append(leaf)
            if leaf.is_timer:
                timer_id = self.take_id()
                fires = fire_at(action["fireAt"])
                self.history.append(timer_created(self.now, timer_id, fires))
                self.expect(fires, leaf, self.timer_firing(timer_id, fires))
            else:
                self.history.append(self.start_attempt(leaf, len(self.episodes) - 1))

    @staticmethod
    def timer_firing(timer_id: int, fires: datetime) -> Callable[[datetime], Event]:
        return lambda at: timer_fired(at, timer_id, fires)

    def start_attempt(self, leaf: _Leaf, episode: int) -> Event:
        """Take an id for the leaf's next attempt, line up its scripted answer, record it."""
        task_id = self.take_id()
        leaf.attempts += 1
        name, input_text = leaf.action["functionName"], leaf.action["input"]
        call = Call(name, task_id, json.loads(input_text), leaf.attempts, episode)
        self.calls.append(call)
        answer = self.answer(name, leaf.attempts)
        if isinstance(answer, Returns):
            result = json.dumps(answer.value)
            self.expect(
                self.now + timedelta(seconds=answer.after),
                leaf,
                lambda at: task_completed(at, task_id, result),
                call,
            )
        elif isinstance(answer, Raises):
            message = answer.message
            self.expect(
                self.now + timedelta(seconds=answer.after),
                leaf,
                lambda at: task_failed(at, task_id, name, message),
                call,
            )
        return task_scheduled(self.now, task_id, name, input_text)

    def answer(self, name: str, attempt: int) -> Attempt:
        if name not in self.script or not self.script[name]:
            raise AssertionError(f"no scripted answer for {name}")
        answers = self.script[name]
        return answers[min(attempt, len(answers)) - 1]

    def expect(
        self,
        at: datetime,
        leaf: _Leaf,
        make: Callable[[datetime], Event],
        call: Call | None = None,
        retry_timer: bool = False,
    ) -> None:
        self.order += 1
        self.due.append(_Due(at, self.order, make, leaf, call, retry_timer))

    def deliver_next(self) -> tuple[Event, list[Event]]:
        """Advance the clock to the next answer, open an episode with it, and return what the
        host records in reply to it (a retry's timer or next attempt)."""
        live = [due for due in self.due if not due.leaf.cancelled]
        if not live:
            raise AssertionError("the orchestrator waits, but nothing it waits for can arrive")
        due = min(live)
        self.due.remove(due)
        self.now = max(self.now, due.at)
        delivered = due.make(self.now)
        self.history.extend([orchestrator_started(self.now), delivered])
        if due.call is not None:
            due.call.settled_in = len(self.episodes)
        return delivered, self.reply_to(due, delivered)

    def reply_to(self, due: _Due, delivered: Event) -> list[Event]:
        leaf = due.leaf
        if delivered["EventType"] == TASK_FAILED and "retryOptions" in leaf.action:
            # DTFx waits after every failed attempt, the last one included (that one fires at once).
            timer_id = self.take_id()
            last = leaf.attempts >= leaf.max_attempts
            fires = self.now if last else self.now + leaf.retry_interval
            self.expect(fires, leaf, self.timer_firing(timer_id, fires), retry_timer=True)
            return [timer_created(self.now, timer_id, fires)]
        if due.retry_timer and leaf.attempts < leaf.max_attempts:
            return [self.start_attempt(leaf, len(self.episodes))]
        return []


def play(
    main: Orchestrator,
    input_text: str | None,
    script: Script,
    *,
    instance_id: str = "order-1",
    max_episodes: int = 200,
) -> Run:
    """Run an orchestration to its end as the host would, answering activities from `script`.

    Each activity name maps to its answers by attempt; the last answer repeats for later attempts.
    """
    return _Host(main, instance_id, input_text, script).run(max_episodes)
