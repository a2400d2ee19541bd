"""A saga's history, as the Durable status API shows it (`showHistory=true`), laid out in lanes.

One lane per declared step and one per compensation, in declaration order; each activity attempt
is a bar from when it was scheduled to when it answered, and a retry timer is a wait between two
attempts. The step deadlines, the operator's decisions and the instance's own events (started,
terminated, completed) are marks.

The status API's history is post-processed by the host: a completed task's `TaskScheduled` is folded
into its `TaskCompleted`/`TaskFailed` (as `FunctionName` and `ScheduledTime`), orchestrator episode
markers are dropped, and event and timer ids are removed. So a retry timer is recognised by where
it sits (after a failed attempt of a lane), and a deadline by its fire time: a timer that follows
no failed attempt guards a deadline, and any later timer due at that same instant guards the same
one. A deadline belongs to the stage of the first forward step to answer after it was set (a
stage's steps are waited on only under its own guards, and the next stage starts once all of them
have answered). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from durable_saga.declaration import Saga
from durable_saga.documents import from_json_text
from durable_saga.orchestrator import OPERATOR_DECISION

MAX_DETAIL_CHARS = 500
"""Errors and notes are cut to this length: the page shows them, the logs keep the rest."""

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


@dataclass(frozen=True)
class LaneSpec:
    key: str
    label: str
    kind: str  # "step", "compensation", or "other" for an activity the saga does not call
    step: str | None = None  # the declared step the lane's activity belongs to
    stage: str | None = None  # and that step's stage


def lanes_of(saga: Saga) -> dict[str, LaneSpec]:
    """The saga's lanes by activity name, in the order they are drawn: the steps, then the
    compensations, each in declaration order."""
    lanes: dict[str, LaneSpec] = {}
    for step, activity, compensates in saga.activities():
        stage = saga.stage_of(step).name
        if compensates:
            key, label, kind = f"{step.name}_rollback", f"{step.title} rollback", "compensation"
        else:
            key, label, kind = step.name, step.title, "step"
        lanes[activity] = LaneSpec(key, label, kind, step.name, stage)
    return lanes


class AttemptStatus(StrEnum):
    SUCCEEDED = "succeeded"
    REFUSED = "refused"  # answered, with a business refusal ({"ok": false, "reason": ...})
    FAILED = "failed"  # raised; the orchestrator may retry it
    RUNNING = "running"  # no answer yet
    ABANDONED = "abandoned"  # no answer before the instance ended
    LATE = "late"  # a forward step's answer after its deadline: the saga had counted it timed out


@dataclass
class Attempt:
    number: int
    scheduled: datetime
    ended: datetime | None
    status: AttemptStatus
    detail: str | None = None


@dataclass
class Wait:
    """A retry timer: the pause the orchestrator took before the lane's next attempt."""

    created: datetime
    fire_at: datetime
    fired: datetime | None


@dataclass(eq=False)
class Lane:
    spec: LaneSpec
    activity: str
    attempts: list[Attempt] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)


@dataclass
class Deadline:
    """A deadline the saga set (a guard timer): when it falls, when it fired if it did, and the
    stage whose steps it bounds."""

    fire_at: datetime
    fired: datetime | None = None
    stage: str | None = None


@dataclass(frozen=True)
class Decision:
    at: datetime
    action: str
    note: str | None


@dataclass(frozen=True)
class Mark:
    """Something that happened to the instance as a whole."""

    at: datetime
    kind: str  # started, completed, failed, terminated, suspended, resumed, event
    detail: str | None = None


@dataclass
class Timeline:
    start: datetime
    end: datetime
    ended: datetime | None
    lanes: list[Lane]
    deadlines: list[Deadline]
    decisions: list[Decision]
    marks: list[Mark]

    @property
    def deadline(self) -> Deadline | None:
        """The first deadline the saga set (a one-stage saga with one deadline has no other)."""
        return self.deadlines[0] if self.deadlines else None


def build_timeline(
    saga: Saga,
    events: Sequence[Mapping[str, Any]],
    runtime_status: str,
    now: datetime,
    step_deadlines: Mapping[str, timedelta] | None = None,
) -> Timeline:
    """Lay out `events` (the status API's `historyEvents`, oldest first) in `saga`'s lanes.

    `runtime_status` tells an attempt still waiting for its answer (running) from one whose
    instance ended without it (abandoned); `now` is where a running attempt's bar ends.
    `step_deadlines` (each step's deadline, from the policy the saga ran under) tells which of a
    stage's deadlines is whose when its steps' deadlines differ; without it a stage's steps
    count from its first deadline.
    """
    builder = _Builder(saga, runtime_status in TERMINAL_STATUSES)
    for event in events:
        builder.add(event)
    return builder.finish(now, step_deadlines or {})


def deadlines_of(saga: Saga, saga_input: Any) -> dict[str, timedelta]:
    """Each step's deadline under the policy `saga_input` carries (None: none is known)."""
    if saga_input is None:
        return {}
    return {name: plan.deadline for name, plan in saga.plan(saga.policy_of(saga_input)).items()}


class _Builder:
    def __init__(self, saga: Saga, instance_ended: bool) -> None:
        self.saga = saga
        self.specs = lanes_of(saga)
        self.order = {spec.key: index for index, spec in enumerate(self.specs.values())}
        self.instance_ended = instance_ended
        self.lanes: dict[str, Lane] = {}
        # Lanes whose last attempt failed, most recent last: the next retry timer is theirs.
        self.awaiting_retry: list[Lane] = []
        self.deadlines: list[Deadline] = []
        self.decisions: list[Decision] = []
        self.marks: list[Mark] = []
        self.start: datetime | None = None
        self.ended: datetime | None = None

    def add(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("EventType", ""))
        at = parse_time(event.get("Timestamp"))
        if at is None:
            return
        if self.start is None:
            self.start = at
        if kind == "ExecutionStarted":
            self.start = min(self.start, at)
            self.marks.append(Mark(at, "started"))
        elif kind == "TaskScheduled":
            self._scheduled(str(event.get("Name") or "?"), at)
        elif kind in ("TaskCompleted", "TaskFailed"):
            self._answered(event, kind, at)
        elif kind == "TimerCreated":
            self._timer_created(event, at)
        elif kind == "TimerFired":
            self._timer_fired(event, at)
        elif kind == "EventRaised":
            self._event_raised(event, at)
        elif kind == "ExecutionTerminated":
            self.ended = at
            self.marks.append(Mark(at, "terminated", _text(from_json_text(event.get("Input")))))
        elif kind == "ExecutionCompleted":
            self.ended = at
            status = str(event.get("OrchestrationStatus") or "Completed").lower()
            if status == "terminated" and any(m.kind == status for m in self.marks):
                return  # DurableTask closes a terminated instance with this event too
            detail = _text(from_json_text(event.get("Result"))) if status != "completed" else None
            self.marks.append(Mark(at, status, detail))
        elif kind in ("ExecutionSuspended", "ExecutionResumed"):
            state = "suspended" if kind == "ExecutionSuspended" else "resumed"
            self.marks.append(Mark(at, state, _text(event.get("Reason"))))

    def _lane(self, activity: str) -> Lane:
        lane = self.lanes.get(activity)
        if lane is None:
            spec = self.specs.get(activity, LaneSpec(activity, activity, "other"))
            lane = self.lanes[activity] = Lane(spec, activity)
        return lane

    def _scheduled(self, activity: str, at: datetime) -> None:
        """A task still in flight: the host shows its TaskScheduled until an answer folds it."""
        lane = self._lane(activity)
        status = AttemptStatus.ABANDONED if self.instance_ended else AttemptStatus.RUNNING
        detail = "no answer before the saga ended" if self.instance_ended else None
        lane.attempts.append(Attempt(0, at, None, status, detail))

    def _answered(self, event: Mapping[str, Any], kind: str, at: datetime) -> None:
        activity = str(event.get("FunctionName") or event.get("Name") or "?")
        lane = self._lane(activity)
        scheduled = parse_time(event.get("ScheduledTime")) or at
        detail: str | None
        if kind == "TaskFailed":
            status, detail = AttemptStatus.FAILED, failure_reason(activity, event.get("Reason"))
            self._awaiting(lane)
        else:
            status, detail = answer_status(event.get("Result"))
        lane.attempts.append(Attempt(0, scheduled, at, status, detail))
        if lane.spec.kind == "step":
            for deadline in self.deadlines:
                deadline.stage = deadline.stage or lane.spec.stage

    def _timer_created(self, event: Mapping[str, Any], at: datetime) -> None:
        fire_at = parse_time(event.get("FireAt"))
        if fire_at is None:
            return
        if self._deadline_at(fire_at) is not None:
            return  # another guard of the same deadline
        if self.awaiting_retry:
            # The most recent failure: a lane whose last failure got no retry (its attempts ran
            # out) must not take the timers of the rollbacks that follow.
            self.awaiting_retry.pop().waits.append(Wait(at, fire_at, None))
        else:
            self.deadlines.append(Deadline(fire_at))

    def _deadline_at(self, fire_at: datetime | None) -> Deadline | None:
        return next((d for d in self.deadlines if d.fire_at == fire_at), None)

    def _awaiting(self, lane: Lane) -> None:
        if lane in self.awaiting_retry:
            self.awaiting_retry.remove(lane)
        self.awaiting_retry.append(lane)

    def _timer_fired(self, event: Mapping[str, Any], at: datetime) -> None:
        fire_at = parse_time(event.get("FireAt"))
        deadline = self._deadline_at(fire_at)
        if deadline is not None:
            deadline.fired = deadline.fired or at
            return
        for lane in self.lanes.values():
            for wait in lane.waits:
                if wait.fired is None and wait.fire_at == fire_at:
                    wait.fired = at
                    return

    def _event_raised(self, event: Mapping[str, Any], at: datetime) -> None:
        name = str(event.get("Name") or "")
        payload = unwrapped(event.get("Input"))
        if name == OPERATOR_DECISION and isinstance(payload, dict):
            note = payload.get("note")
            action = str(payload.get("action") or "?")
            self.decisions.append(Decision(at, action, _text(note) if note else None))
        else:
            self.marks.append(Mark(at, "event", name))

    def finish(self, now: datetime, step_deadlines: Mapping[str, timedelta]) -> Timeline:
        start = self.start or now
        lanes = sorted(self.lanes.values(), key=self._lane_order)
        for lane in lanes:
            lane.attempts.sort(key=lambda attempt: attempt.scheduled)
        self._last_stage_for_open_deadlines(lanes)
        for lane in lanes:
            deadline = self._deadline_of(lane, step_deadlines)
            fired = deadline.fired if deadline is not None else None
            for number, attempt in enumerate(lane.attempts, start=1):
                attempt.number = number
                if (
                    lane.spec.kind == "step"
                    and fired is not None
                    and attempt.ended is not None
                    and attempt.ended > fired
                ):
                    answer = attempt.status.value + (
                        f": {attempt.detail}" if attempt.detail else ""
                    )
                    attempt.status = AttemptStatus.LATE
                    attempt.detail = _text(
                        f"answered after the deadline ({answer}); the saga had counted the step "
                        "as timed out, and its rollback fenced it"
                    )
        end = max(
            [start, *_activity_moments(lanes, self.ended or now), *(d.at for d in self.decisions)]
        )
        return Timeline(start, end, self.ended, lanes, self.deadlines, self.decisions, self.marks)

    def _lane_order(self, lane: Lane) -> tuple[int, str]:
        """The saga's lanes in declaration order, then any other activity's by name."""
        return self.order.get(lane.spec.key, len(self.order)), lane.activity

    def _last_stage_for_open_deadlines(self, lanes: list[Lane]) -> None:
        """A deadline no step answered after belongs to the last stage that ran a step."""
        stages = [lane.spec.stage for lane in lanes if lane.spec.kind == "step" and lane.attempts]
        ran = [stage.name for stage in self.saga.stages if stage.name in stages]
        for deadline in self.deadlines:
            deadline.stage = deadline.stage or (ran[-1] if ran else self.saga.stages[0].name)

    def _deadline_of(self, lane: Lane, step_deadlines: Mapping[str, timedelta]) -> Deadline | None:
        """The deadline that cut the lane's step off, if one did: its stage's first deadline,
        moved by how much later than its stage's earliest the step's own deadline falls."""
        spec = lane.spec
        first = next((d for d in self.deadlines if d.stage == spec.stage), None)
        if first is None or spec.step is None:
            return first
        stage = next(stage for stage in self.saga.stages if stage.name == spec.stage)
        own = step_deadlines.get(spec.step)
        known = [step_deadlines[step.name] for step in stage.steps if step.name in step_deadlines]
        if own is None or not known:
            return first
        return self._deadline_at(first.fire_at + (own - min(known)))


def _activity_moments(lanes: Iterable[Lane], open_end: datetime) -> Iterable[datetime]:
    """Every moment a bar or a wait reaches; an attempt without an answer reaches `open_end`."""
    for lane in lanes:
        for attempt in lane.attempts:
            yield attempt.scheduled
            yield attempt.ended or open_end
        for wait in lane.waits:
            yield wait.fired or wait.fire_at


def answer_status(result: Any) -> tuple[AttemptStatus, str | None]:
    """A step's answer is `{"ok": bool, "reason": str | null}`; ok false is a refusal."""
    answer = from_json_text(result)
    if isinstance(answer, dict):
        reason = answer.get("reason")
        detail = _text(reason) if reason else None
        if answer.get("ok") is False:
            return AttemptStatus.REFUSED, detail
        return AttemptStatus.SUCCEEDED, detail
    return AttemptStatus.SUCCEEDED, None


def failure_reason(activity: str, reason: Any) -> str:
    """The error of a failed attempt, without the host's "Activity function 'X' failed:" prefix
    (the lane already names the activity)."""
    text = str(reason or "failed without a reason").strip()
    prefix = f"Activity function '{activity}' failed:"
    return _text(text.removeprefix(prefix).strip() or text) or "failed"


def parse_time(value: Any) -> datetime | None:
    """The host's timestamps: ISO 8601 in UTC with up to seven fractional digits."""
    if not isinstance(value, str) or not value:
        return None
    body = value.strip().removesuffix("Z").removesuffix("+00:00")
    if "." in body:
        whole, fraction = body.split(".", 1)
        body = f"{whole}.{fraction[:6].ljust(6, '0')}"
    try:
        moment = datetime.fromisoformat(body)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """UTC to the millisecond with a `Z`: precise enough for bars of a few milliseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def timeline_json(timeline: Timeline) -> dict[str, Any]:
    """The document the monitor draws: times as ISO text and as milliseconds from the start."""

    def offset(moment: datetime) -> int:
        return round((moment - timeline.start).total_seconds() * 1000)

    def stamp(moment: datetime | None) -> str | None:
        return None if moment is None else format_time(moment)

    open_end = timeline.ended or timeline.end

    def deadline_json(deadline: Deadline) -> dict[str, Any]:
        return {
            "fireAt": format_time(deadline.fire_at),
            "atMs": offset(deadline.fire_at),
            "fired": stamp(deadline.fired),
        }

    return {
        "start": format_time(timeline.start),
        "end": format_time(timeline.end),
        "durationMs": offset(timeline.end),
        "ended": stamp(timeline.ended),
        "lanes": [
            {
                "key": lane.spec.key,
                "label": lane.spec.label,
                "kind": lane.spec.kind,
                "stage": lane.spec.stage,
                "activity": lane.activity,
                "attempts": [
                    {
                        "number": a.number,
                        "status": a.status.value,
                        "scheduled": format_time(a.scheduled),
                        "ended": stamp(a.ended),
                        "fromMs": offset(a.scheduled),
                        "toMs": offset(a.ended or min(open_end, timeline.end)),
                        "durationMs": None
                        if a.ended is None
                        else offset(a.ended) - offset(a.scheduled),
                        "detail": a.detail,
                    }
                    for a in lane.attempts
                ],
                "waits": [
                    {
                        "created": format_time(w.created),
                        "fireAt": format_time(w.fire_at),
                        "fired": stamp(w.fired),
                        "fromMs": offset(w.created),
                        "toMs": offset(w.fired or w.fire_at),
                    }
                    for w in lane.waits
                ],
            }
            for lane in timeline.lanes
        ],
        "deadline": None if timeline.deadline is None else deadline_json(timeline.deadline),
        "deadlines": [
            {**deadline_json(deadline), "stage": deadline.stage} for deadline in timeline.deadlines
        ],
        "decisions": [
            {"at": format_time(d.at), "atMs": offset(d.at), "action": d.action, "note": d.note}
            for d in timeline.decisions
        ],
        "marks": [
            {"at": format_time(m.at), "atMs": offset(m.at), "kind": m.kind, "detail": m.detail}
            for m in timeline.marks
        ],
    }


def unwrapped(value: Any) -> Any:
    """What the Python client handed the host (an input, an event's data) as the document it
    sent: the client sends JSON text, which the host keeps as a JSON string, so the status API
    shows a string holding JSON."""
    return from_json_text(from_json_text(value))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    text = text.strip()
    if len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 1] + "…"
    return text or None
