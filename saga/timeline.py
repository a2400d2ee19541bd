"""A saga's history, as the Durable status API shows it (`showHistory=true`), laid out in lanes.

One lane per forward step and one per rollback; each activity attempt is a bar from when it was
scheduled to when it answered, and a retry timer is a wait between two attempts. The step deadline,
the operator's decisions and the instance's own events (started, terminated, completed) are marks.

The status API's history is post-processed by the host: a completed task's `TaskScheduled` is folded
into its `TaskCompleted`/`TaskFailed` (as `FunctionName` and `ScheduledTime`), orchestrator episode
markers are dropped, and event and timer ids are removed. So a retry timer is recognised by where
it sits (after a failed attempt of a lane), and the deadline by its fire time (the saga's first
timer, and any later timer due at that same instant, guards the same deadline). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from durable_saga import OPERATOR_DECISION
from durable_saga.documents import from_json_text
from saga.workflow import ORDER_SAGA

MAX_DETAIL_CHARS = 500
"""Errors and notes are cut to this length: the page shows them, the logs keep the rest."""

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


@dataclass(frozen=True)
class LaneSpec:
    key: str
    label: str
    kind: str  # "step", "compensation", or "other" for an activity the saga does not call


# By activity name, in the order the lanes are drawn: the steps, then their rollbacks.
LANES: dict[str, LaneSpec] = {
    activity: LaneSpec(f"{step.name}_rollback", f"{step.title} rollback", "compensation")
    if compensates
    else LaneSpec(step.name, step.title, "step")
    for step, activity, compensates in ORDER_SAGA.activities()
}
_LANE_ORDER = {spec.key: index for index, spec in enumerate(LANES.values())}


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
    fire_at: datetime
    fired: datetime | None = None


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
    deadline: Deadline | None
    decisions: list[Decision]
    marks: list[Mark]


def build_timeline(
    events: Sequence[Mapping[str, Any]], runtime_status: str, now: datetime
) -> Timeline:
    """Lay out `events` (the status API's `historyEvents`, oldest first) in lanes.

    `runtime_status` tells an attempt still waiting for its answer (running) from one whose
    instance ended without it (abandoned); `now` is where a running attempt's bar ends.
    """
    builder = _Builder(runtime_status in TERMINAL_STATUSES)
    for event in events:
        builder.add(event)
    return builder.finish(now)


class _Builder:
    def __init__(self, instance_ended: bool) -> None:
        self.instance_ended = instance_ended
        self.lanes: dict[str, Lane] = {}
        # Lanes whose last attempt failed, most recent last: the next retry timer is theirs.
        self.awaiting_retry: list[Lane] = []
        self.deadline: Deadline | None = None
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
            spec = LANES.get(activity, LaneSpec(activity, activity, "other"))
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

    def _timer_created(self, event: Mapping[str, Any], at: datetime) -> None:
        fire_at = parse_time(event.get("FireAt"))
        if fire_at is None:
            return
        if self.deadline is not None and fire_at == self.deadline.fire_at:
            return  # another guard of the same deadline
        if self.awaiting_retry:
            # The most recent failure: a lane whose last failure got no retry (its attempts ran
            # out) must not take the timers of the rollbacks that follow.
            self.awaiting_retry.pop().waits.append(Wait(at, fire_at, None))
        elif self.deadline is None:
            self.deadline = Deadline(fire_at)

    def _awaiting(self, lane: Lane) -> None:
        if lane in self.awaiting_retry:
            self.awaiting_retry.remove(lane)
        self.awaiting_retry.append(lane)

    def _timer_fired(self, event: Mapping[str, Any], at: datetime) -> None:
        fire_at = parse_time(event.get("FireAt"))
        if self.deadline is not None and fire_at == self.deadline.fire_at:
            self.deadline.fired = self.deadline.fired or at
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

    def finish(self, now: datetime) -> Timeline:
        start = self.start or now
        lanes = sorted(self.lanes.values(), key=_lane_order)
        fired = self.deadline.fired if self.deadline is not None else None
        for lane in lanes:
            lane.attempts.sort(key=lambda attempt: attempt.scheduled)
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
        return Timeline(start, end, self.ended, lanes, self.deadline, self.decisions, self.marks)


def _lane_order(lane: Lane) -> tuple[int, str]:
    """Known lanes in LANES' order, then any other activity's by name."""
    return _LANE_ORDER.get(lane.spec.key, len(_LANE_ORDER)), lane.activity


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
    deadline = timeline.deadline
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
        "deadline": None
        if deadline is None
        else {
            "fireAt": format_time(deadline.fire_at),
            "atMs": offset(deadline.fire_at),
            "fired": stamp(deadline.fired),
        },
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
