"""Orchestration histories shaped as the Durable Functions host sends them, and a host to play them.

`play` stands in for the host around a real orchestrator `main`: it builds the context JSON
(PascalCase history events, schema V3, the input as JSON text), passes it through the real
`orchestrationTrigger` converter, and replays the actions that come back the way the Functions
host does on DurableTask, which numbers every activity attempt and timer. Ids the history already
holds must match what the replay takes again (or the replay is non-deterministic and the run
fails); new ids become TaskScheduled and TimerCreated events, and each activity attempt is
answered from a script, until the orchestration is done or fails.

Answers arrive in time order on a virtual clock. By default each episode opens with one of them,
so every step of a scenario is an episode a test can look at; with `together` the host batches
every answer due within that many seconds of the first into one episode, as a busy host does.
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
    delivered: list[Event]  # the answers this episode opened with


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


# DTFx's side of the replay. The Functions host replays the SDK's actions on a DTFx context:
# top-level actions one after the other, each started once the one before it has finished;
# WhenAll waits for every child (failed or not), WhenAny for the first; a cancelled timer finishes
# as soon as it is started; a retried activity takes an id for the timer after each failed attempt
# and one for each new attempt, when that failure or timer is replayed. Ids come from one counter.


@dataclass(frozen=True)
class Work:
    """A scheduling event the replay produced: TaskScheduled or TimerCreated, by sequence id."""

    task_id: int
    event_type: int
    name: str | None = None
    input_text: str | None = None
    attempt: int = 0
    fires: datetime | None = None


class _Node:
    def __init__(self, replay: _Replay) -> None:
        self.replay = replay
        self.parent: _Group | None = None
        self.done = False
        self.failed = False

    def start(self) -> None:
        raise NotImplementedError

    def on(self, delivered: Event) -> None:
        raise AssertionError(f"{delivered} answers an id this node never took")

    def finish(self, failed: bool) -> None:
        if self.done:
            return
        self.done, self.failed = True, failed
        if self.parent is not None:
            self.parent.child_finished(self)


class _Call(_Node):
    def __init__(self, replay: _Replay, action: Mapping[str, Any]) -> None:
        super().__init__(replay)
        self.action = action
        options = action.get("retryOptions")
        self.max_attempts = int(options["maxNumberOfAttempts"]) if options else 1
        interval = options["firstRetryIntervalInMilliseconds"] if options else 0
        self.retry_interval = timedelta(milliseconds=interval)
        self.retries = options is not None
        self.attempts = 0

    def start(self) -> None:
        self.attempts += 1
        name, input_text = self.action["functionName"], self.action["input"]
        self.replay.take(self, TASK_SCHEDULED, name, input_text, self.attempts)

    def on(self, delivered: Event) -> None:
        kind = delivered["EventType"]
        if kind == TASK_COMPLETED:
            self.finish(False)
        elif kind == TASK_FAILED and self.retries:
            # A wait after every failed attempt, the last included (that one fires at once).
            last = self.attempts >= self.max_attempts
            fires = self.replay.now + (timedelta(0) if last else self.retry_interval)
            self.replay.take(self, TIMER_CREATED, fires=fires)
        elif kind == TIMER_FIRED and self.attempts < self.max_attempts:
            self.start()
        else:
            self.finish(True)


class _Timer(_Node):
    def __init__(self, replay: _Replay, action: Mapping[str, Any]) -> None:
        super().__init__(replay)
        self.fires = fire_at(action["fireAt"])
        self.cancelled = bool(action.get("isCanceled", False))

    def start(self) -> None:
        task_id = self.replay.take(self, TIMER_CREATED, fires=self.fires)
        if self.cancelled:
            self.replay.cancelled.add(task_id)
            self.finish(False)

    def on(self, delivered: Event) -> None:
        self.finish(False)


class _Group(_Node):
    def __init__(self, replay: _Replay, action: Mapping[str, Any]) -> None:
        super().__init__(replay)
        self.wait_all = action["actionType"] == WHEN_ALL
        self.children = [replay.build(child) for child in action["compoundActions"]]
        if not self.children and not self.wait_all:
            raise AssertionError("the host cannot wait for any of no tasks (empty WhenAny)")
        for child in self.children:
            child.parent = self

    def start(self) -> None:
        for child in self.children:
            child.start()
        if not self.children:
            self.finish(False)

    def child_finished(self, child: _Node) -> None:
        if not self.wait_all:
            self.finish(child.failed)
        elif all(child.done for child in self.children):
            self.finish(any(child.failed for child in self.children))


class _Replay:
    """Replay the actions against the history; fail on a mismatch, return the new work."""

    def __init__(self, history: Sequence[Event], now: datetime) -> None:
        self.history = history
        self.now = now
        self.recorded = {
            int(past["EventId"]): past
            for past in history
            if past["EventType"] in (TASK_SCHEDULED, TIMER_CREATED)
        }
        self.owners: dict[int, _Node] = {}
        self.cancelled: set[int] = set()
        self.new: list[Work] = []

    def build(self, action: Mapping[str, Any]) -> _Node:
        kind = action["actionType"]
        if kind in (WHEN_ALL, WHEN_ANY):
            return _Group(self, action)
        if kind in (CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY):
            return _Call(self, action)
        if kind == CREATE_TIMER:
            return _Timer(self, action)
        raise AssertionError(f"this host does not play actionType {kind}")

    def take(
        self,
        node: _Node,
        event_type: int,
        name: str | None = None,
        input_text: str | None = None,
        attempt: int = 0,
        fires: datetime | None = None,
    ) -> int:
        task_id = len(self.owners)
        self.owners[task_id] = node
        work = Work(task_id, event_type, name, input_text, attempt, fires)
        past = self.recorded.get(task_id)
        if past is None:
            self.new.append(work)
        elif (
            past["EventType"] != event_type
            or (past.get("Name") or "").lower() != (name or "").lower()
        ):
            raise AssertionError(
                f"non-deterministic replay: history has {past} at sequence id {task_id}, "
                f"but replaying the actions scheduled {work} there"
            )
        return task_id

    def run(self, actions: Sequence[Mapping[str, Any]]) -> list[Work]:
        tops = [self.build(action) for action in actions]
        started = 0

        def advance() -> None:
            nonlocal started
            while started < len(tops) and (started == 0 or tops[started - 1].done):
                tops[started].start()
                started += 1

        advance()
        for past in self.history:
            if past["EventType"] in (TASK_COMPLETED, TASK_FAILED, TIMER_FIRED):
                key = int(
                    past["TimerId"] if past["EventType"] == TIMER_FIRED else past["TaskScheduledId"]
                )
                owner = self.owners.get(key)
                if owner is None:
                    raise AssertionError(f"{past} answers sequence id {key}, which nothing took")
                self.now = parse_timestamp(past["Timestamp"])
                owner.on(past)
                advance()
        forgotten = sorted(set(self.recorded) - set(self.owners))
        if forgotten:
            raise AssertionError(f"non-deterministic replay: ids {forgotten} were not scheduled")
        return self.new


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


@dataclass(order=True)
class _Due:
    at: datetime
    order: int
    task_id: int = field(compare=False)
    make: Callable[[datetime], Event] = field(compare=False)
    call: Call | None = field(compare=False, default=None)


class _Host:
    def __init__(
        self,
        main: Orchestrator,
        instance_id: str,
        input_text: str | None,
        script: Script,
        together: float,
    ) -> None:
        self.main = main
        self.together = timedelta(seconds=together)
        self.instance_id = instance_id
        self.input_text = input_text
        self.script = script
        self.now = START
        self.due: list[_Due] = []
        self.order = 0
        self.calls: list[Call] = []
        self.history: list[Event] = [
            orchestrator_started(START),
            execution_started(START, instance_id, "OrderSaga", input_text or "null"),
        ]
        self.episodes: list[Episode] = []

    def run(self, max_episodes: int) -> Run:
        delivered: list[Event] = []
        while len(self.episodes) < max_episodes:
            state = invoke(self.main, context_json(self.instance_id, self.input_text, self.history))
            self.episodes.append(Episode(len(self.episodes), state, delivered))
            if state["isDone"] or state.get("error"):
                return Run(self.episodes, self.calls, self.history)
            replay = _Replay(self.history, self.now)
            for work in replay.run(state["actions"][0]):
                self.schedule(work)
            self.due = [due for due in self.due if due.task_id not in replay.cancelled]
            self.history.append(orchestrator_completed(self.now))
            for past in self.history:
                past["IsPlayed"] = past["EventType"] != ORCHESTRATOR_STARTED
            delivered = self.deliver_next()
        raise AssertionError(f"not done after {max_episodes} episodes")

    def schedule(self, work: Work) -> None:
        """Record the new work in the history and line up its answer."""
        task_id = work.task_id
        if work.event_type == TIMER_CREATED:
            assert work.fires is not None
            fires = work.fires
            self.history.append(timer_created(self.now, task_id, fires))
            self.expect(fires, task_id, lambda at: timer_fired(at, task_id, fires))
            return
        assert work.name is not None and work.input_text is not None
        name = work.name
        self.history.append(task_scheduled(self.now, task_id, name, work.input_text))
        call = Call(
            name, task_id, json.loads(work.input_text), work.attempt, len(self.episodes) - 1
        )
        self.calls.append(call)
        answer = self.answer(name, work.attempt)
        if isinstance(answer, Returns):
            result = json.dumps(answer.value)
            self.expect(
                self.now + timedelta(seconds=answer.after),
                task_id,
                lambda at: task_completed(at, task_id, result),
                call,
            )
        elif isinstance(answer, Raises):
            message = answer.message
            self.expect(
                self.now + timedelta(seconds=answer.after),
                task_id,
                lambda at: task_failed(at, task_id, name, message),
                call,
            )

    def answer(self, name: str, attempt: int) -> Attempt:
        if name not in self.script or not self.script[name]:
            raise AssertionError(f"no scripted answer for {name}")
        answers = self.script[name]
        return answers[min(attempt, len(answers)) - 1]

    def expect(
        self,
        at: datetime,
        task_id: int,
        make: Callable[[datetime], Event],
        call: Call | None = None,
    ) -> None:
        self.order += 1
        self.due.append(_Due(at, self.order, task_id, make, call))

    def deliver_next(self) -> list[Event]:
        """Advance the clock to the next answers and open an episode with them."""
        if not self.due:
            raise AssertionError("the orchestrator waits, but nothing it waits for can arrive")
        first = min(self.due)
        batch = sorted(due for due in self.due if due.at <= first.at + self.together)
        delivered = []
        for due in batch:
            self.due.remove(due)
            self.now = max(self.now, due.at)
            delivered.append(due.make(self.now))
            if due.call is not None:
                due.call.settled_in = len(self.episodes)
        self.history.extend([orchestrator_started(self.now), *delivered])
        return delivered


def play(
    main: Orchestrator,
    input_text: str | None,
    script: Script,
    *,
    instance_id: str = "order-1",
    together: float = 0,
    max_episodes: int = 200,
) -> Run:
    """Run an orchestration to its end as the host would, answering activities from `script`.

    Each activity name maps to its answers by attempt; the last answer repeats for later attempts.
    Raises AssertionError when the actions do not replay onto the history as the host replays them.
    """
    return _Host(main, instance_id, input_text, script, together).run(max_episodes)
