"""History events as the real host sends them to the SDK, and as they sit in `{hub}History`.

In memory an event is a plain dict with DurableTask.Core's PascalCase DataMember names and an
integer `EventType`, so it goes into the orchestrator context JSON unchanged. In the table the
same event is a row with the enum written by name, `Timestamp` moved to `_Timestamp`, complex
members as JSON text and `ExecutionId` on every row, so existing storage tools can read it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]


class EventType(IntEnum):
    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20


class OrchestrationStatus(IntEnum):
    """DurableTask.Core's status; the names are also the runtimeStatus strings of the HTTP API."""

    Running = 0
    Completed = 1
    ContinuedAsNew = 2
    Failed = 3
    Canceled = 4
    Terminated = 5
    Pending = 6
    Suspended = 7


TERMINAL_STATUSES = frozenset(
    {
        OrchestrationStatus.Completed,
        OrchestrationStatus.Failed,
        OrchestrationStatus.Canceled,
        OrchestrationStatus.Terminated,
    }
)

# Events that open a unit of work under a sequence id, and the completions that close it.
SCHEDULING_TYPES = frozenset(
    {
        EventType.TaskScheduled,
        EventType.SubOrchestrationInstanceCreated,
        EventType.TimerCreated,
        EventType.EventSent,
    }
)
TASK_COMPLETION_TYPES = frozenset(
    {
        EventType.TaskCompleted,
        EventType.TaskFailed,
        EventType.SubOrchestrationInstanceCompleted,
        EventType.SubOrchestrationInstanceFailed,
    }
)

_JSON_MEMBERS = ("OrchestrationInstance", "ParentInstance", "Tags", "FailureDetails")
_DATETIME_MEMBERS = ("FireAt", "ScheduledStartTime")


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 with seven fractional digits and `Z`, as .NET writes a UTC DateTime."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_timestamp(text: str) -> datetime:
    """Parse the timestamps the host and the SDK write (3 to 7 fractional digits, `Z`)."""
    body = text.strip().removesuffix("Z").removesuffix("+00:00")
    if "." in body:
        whole, fraction = body.split(".", 1)
        body = f"{whole}.{fraction[:6].ljust(6, '0')}"
    return datetime.fromisoformat(body).replace(tzinfo=UTC)


def completion_key(event: Event) -> int | None:
    """The sequence id a completion event closes, or None for other events."""
    kind = event["EventType"]
    if kind in TASK_COMPLETION_TYPES:
        return int(event["TaskScheduledId"])
    if kind == EventType.TimerFired:
        return int(event["TimerId"])
    return None


def _event(kind: EventType, moment: datetime, event_id: int = -1, **members: Any) -> Event:
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_timestamp(moment),
        **members,
    }


def orchestrator_started(moment: datetime) -> Event:
    return _event(EventType.OrchestratorStarted, moment)


def orchestrator_completed(moment: datetime) -> Event:
    return _event(EventType.OrchestratorCompleted, moment)


def execution_started(
    moment: datetime,
    instance_id: str,
    execution_id: str,
    name: str,
    input_text: str | None,
    parent: dict[str, Any] | None = None,
    generation: int = 0,
) -> Event:
    return _event(
        EventType.ExecutionStarted,
        moment,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent,
        Name=name,
        Version="",
        Input=input_text,
        Tags=None,
        Generation=generation,
    )


def execution_completed(
    moment: datetime, event_id: int, status: OrchestrationStatus, result: str | None
) -> Event:
    return _event(
        EventType.ExecutionCompleted,
        moment,
        event_id,
        OrchestrationStatus=int(status),
        Result=result,
    )


def execution_terminated(moment: datetime, reason: str | None) -> Event:
    return _event(EventType.ExecutionTerminated, moment, Input=reason)


def execution_suspended(moment: datetime, reason: str | None) -> Event:
    return _event(EventType.ExecutionSuspended, moment, Reason=reason)


def execution_resumed(moment: datetime, reason: str | None) -> Event:
    return _event(EventType.ExecutionResumed, moment, Reason=reason)


def continued_as_new(moment: datetime, event_id: int, input_text: str | None) -> Event:
    return _event(
        EventType.ContinueAsNew,
        moment,
        event_id,
        OrchestrationStatus=int(OrchestrationStatus.ContinuedAsNew),
        Result=input_text,
    )


def task_scheduled(moment: datetime, event_id: int, name: str, input_text: str) -> Event:
    # The real host wraps an activity's input in a one-element JSON array.
    return _event(
        EventType.TaskScheduled,
        moment,
        event_id,
        Name=name,
        Version="",
        Input=json.dumps([input_text]),
    )


def activity_input(scheduled: Event) -> str:
    """The text the activity receives: element 0 of TaskScheduled's input array."""
    values = json.loads(scheduled.get("Input") or "[null]")
    value = values[0] if values else None
    return value if isinstance(value, str) else json.dumps(value)


def task_completed(moment: datetime, scheduled_id: int, result: str | None) -> Event:
    return _event(EventType.TaskCompleted, moment, TaskScheduledId=scheduled_id, Result=result)


def task_failed(moment: datetime, scheduled_id: int, reason: str, details: str | None) -> Event:
    return _event(
        EventType.TaskFailed, moment, TaskScheduledId=scheduled_id, Reason=reason, Details=details
    )


def timer_created(moment: datetime, event_id: int, fire_at: datetime) -> Event:
    return _event(EventType.TimerCreated, moment, event_id, FireAt=format_timestamp(fire_at))


def timer_fired(moment: datetime, timer_id: int, fire_at: str) -> Event:
    return _event(EventType.TimerFired, moment, TimerId=timer_id, FireAt=fire_at)


def sub_orchestration_created(
    moment: datetime, event_id: int, name: str, instance_id: str, input_text: str | None
) -> Event:
    return _event(
        EventType.SubOrchestrationInstanceCreated,
        moment,
        event_id,
        Name=name,
        Version="",
        InstanceId=instance_id,
        Input=input_text,
    )


def sub_orchestration_completed(moment: datetime, scheduled_id: int, result: str | None) -> Event:
    return _event(
        EventType.SubOrchestrationInstanceCompleted,
        moment,
        TaskScheduledId=scheduled_id,
        Result=result,
    )


def sub_orchestration_failed(
    moment: datetime, scheduled_id: int, reason: str | None, details: str | None
) -> Event:
    return _event(
        EventType.SubOrchestrationInstanceFailed,
        moment,
        TaskScheduledId=scheduled_id,
        Reason=reason,
        Details=details,
    )


def event_raised(moment: datetime, name: str, input_text: str | None) -> Event:
    return _event(EventType.EventRaised, moment, Name=name, Input=input_text)


def to_row(event: Event, partition_key: str, execution_id: str, sequence: int) -> dict[str, Any]:
    """The `{hub}History` row of an event at position `sequence` of its execution."""
    row: dict[str, Any] = {
        "PartitionKey": partition_key,
        "RowKey": f"{sequence:016X}",
        "ExecutionId": execution_id,
    }
    for key, value in event.items():
        if value is None:
            continue
        if key == "EventType":
            row[key] = EventType(value).name
        elif key == "Timestamp":
            row["_Timestamp"] = parse_timestamp(value)
        elif key == "OrchestrationStatus":
            row[key] = OrchestrationStatus(value).name
        elif key in _JSON_MEMBERS:
            row[key] = json.dumps(value)
        elif key in _DATETIME_MEMBERS:
            row[key] = parse_timestamp(value)
        else:
            row[key] = value
    return row


def from_row(row: dict[str, Any]) -> Event:
    """The in-memory event of a `{hub}History` row (the inverse of `to_row`)."""
    kind = EventType[row["EventType"]]
    event: Event = {
        "EventType": int(kind),
        "EventId": int(row.get("EventId", -1)),
        "IsPlayed": bool(row.get("IsPlayed", False)),
        "Timestamp": format_timestamp(row["_Timestamp"]),
    }
    for key, value in row.items():
        if key in event or key in ("PartitionKey", "RowKey", "ExecutionId", "_Timestamp"):
            continue
        if key == "OrchestrationStatus":
            event[key] = int(OrchestrationStatus[value])
        elif key in _JSON_MEMBERS:
            event[key] = json.loads(value)
        elif key in _DATETIME_MEMBERS:
            event[key] = format_timestamp(value)
        else:
            event[key] = value
    if kind == EventType.ExecutionStarted:
        # The SDK reads these members unconditionally.
        event.setdefault("Version", "")
        event.setdefault("ParentInstance", None)
        event.setdefault("Input", None)
        event.setdefault("Tags", None)
    elif kind in (EventType.TaskCompleted, EventType.SubOrchestrationInstanceCompleted):
        event.setdefault("Result", None)
    elif kind in (EventType.EventRaised, EventType.ExecutionTerminated):
        event.setdefault("Input", None)
    return event
