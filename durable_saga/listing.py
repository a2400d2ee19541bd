"""GET /api/{collection}: which sagas a client asked for, and how each one appears in the list.

The Durable instance query filters by runtime status and creation time and pages with `top` and a
continuation token; stage and outcome live in each saga's custom status (and its output once it
completed), so they are filtered here, page by page. A page can therefore hold fewer than `top`
sagas, even none, while more follow: a client follows `continuationToken` until it is null.

Order: each page is sorted newest first (by createdTime, then id). Pages come in the order the
task hub's store lists instances, which for Azure Storage (and durable_host) is by instance id, not
by time, so the list as a whole is newest first only when it fits in one page; narrow it with
`createdFrom`/`createdTo` to see the latest sagas first. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from durable_saga.documents import Outcome, Phase
from durable_saga.errors import FieldError, InvalidRequest
from durable_saga.timeline import parse_time
from durable_saga.views import InstanceSnapshot, SagaMonitor, saga_summary

DEFAULT_TOP = 25
MAX_TOP = 100
MAX_TOKEN_CHARS = 4096
RUNTIME_STATUSES = ("Pending", "Running", "Completed", "Failed", "Terminated", "Suspended")
STAGES = tuple(phase.value for phase in Phase)
OUTCOMES = tuple(outcome.value for outcome in Outcome)


@dataclass(frozen=True)
class ListQuery:
    """A validated GET /api/{collection} query."""

    top: int = DEFAULT_TOP
    continuation: str | None = None
    runtime_statuses: tuple[str, ...] = ()
    stages: frozenset[str] = frozenset()
    outcomes: frozenset[str] = frozenset()
    created_from: datetime | None = None
    created_to: datetime | None = None

    def durable_parameters(self) -> dict[str, str]:
        """The instance query's parameters: what the task hub can filter itself."""
        parameters = {"top": str(self.top), "showInput": "true"}
        if self.runtime_statuses:
            parameters["runtimeStatus"] = ",".join(self.runtime_statuses)
        if self.created_from is not None:
            parameters["createdTimeFrom"] = _durable_time(self.created_from)
        if self.created_to is not None:
            parameters["createdTimeTo"] = _durable_time(self.created_to)
        return parameters


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """Validate the query string; raises InvalidRequest naming every bad parameter.

    Parameters it does not know are ignored (Azure passes the function key as `code`).
    """
    errors: list[FieldError] = []
    top = DEFAULT_TOP
    raw_top = params.get("top", "").strip()
    if raw_top:
        if raw_top.isdigit() and 1 <= int(raw_top) <= MAX_TOP:
            top = int(raw_top)
        else:
            errors.append(FieldError("top", f"must be a whole number from 1 to {MAX_TOP}"))
    token = params.get("continuationToken") or None
    if token is not None and (len(token) > MAX_TOKEN_CHARS or not token.isprintable()):
        errors.append(FieldError("continuationToken", "is not a token this list handed out"))
    statuses = _choices(params, "runtimeStatus", RUNTIME_STATUSES, errors, case_sensitive=False)
    stages = _choices(params, "stage", STAGES, errors)
    outcomes = _choices(params, "outcome", OUTCOMES, errors)
    created_from = _moment(params, "createdFrom", errors)
    created_to = _moment(params, "createdTo", errors)
    if created_from and created_to and created_from > created_to:
        errors.append(FieldError("createdTo", "must not be before createdFrom"))
    if errors:
        raise InvalidRequest(errors)
    return ListQuery(
        top=top,
        continuation=token,
        runtime_statuses=statuses,
        stages=frozenset(stages),
        outcomes=frozenset(outcomes),
        created_from=created_from,
        created_to=created_to,
    )


def snapshot(payload: Mapping[str, Any]) -> InstanceSnapshot:
    """An instance of the status API's JSON (one element of an instance query's answer)."""
    return InstanceSnapshot(
        runtime_status=str(payload.get("runtimeStatus") or "Unknown"),
        input=payload.get("input"),
        custom_status=payload.get("customStatus"),
        output=payload.get("output"),
        created_time=parse_time(payload.get("createdTime")),
        last_updated_time=parse_time(payload.get("lastUpdatedTime")),
    )


def saga_row(monitor: SagaMonitor, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """One saga of the list, or None for an instance of another orchestration."""
    if payload.get("name") != monitor.saga.name or not isinstance(payload.get("instanceId"), str):
        return None
    return saga_summary(monitor, payload["instanceId"], snapshot(payload))


def saga_page(
    monitor: SagaMonitor,
    instances: Iterable[Mapping[str, Any]],
    query: ListQuery,
    continuation: str | None,
) -> dict[str, Any]:
    """`{<collection>: [...], "continuationToken": ...}`: the matching sagas, newest first."""
    rows = [
        row
        for row in (saga_row(monitor, instance) for instance in instances)
        if row is not None and _matches(row, query)
    ]
    rows.sort(key=lambda row: (row["createdTime"] or "", row[monitor.id_field]), reverse=True)
    return {monitor.collection: rows, "continuationToken": continuation}


def _matches(row: Mapping[str, Any], query: ListQuery) -> bool:
    if query.stages and row["stage"] not in query.stages:
        return False
    return not query.outcomes or row["outcome"] in query.outcomes


def _choices(
    params: Mapping[str, str],
    name: str,
    allowed: tuple[str, ...],
    errors: list[FieldError],
    case_sensitive: bool = True,
) -> tuple[str, ...]:
    """A comma-separated list of allowed values, in their canonical spelling."""
    raw = params.get(name, "")
    if not raw.strip():
        return ()
    canonical = {(value if case_sensitive else value.lower()): value for value in allowed}
    chosen: list[str] = []
    for item in raw.split(","):
        key = item.strip() if case_sensitive else item.strip().lower()
        if key not in canonical:
            errors.append(FieldError(name, f"{item.strip()!r} is not one of: {', '.join(allowed)}"))
        elif canonical[key] not in chosen:
            chosen.append(canonical[key])
    return tuple(chosen)


def _moment(params: Mapping[str, str], name: str, errors: list[FieldError]) -> datetime | None:
    """An ISO 8601 date or time; one without an offset is UTC."""
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        errors.append(
            FieldError(name, f"{raw!r} is not an ISO 8601 time such as 2026-11-28T00:31:00Z")
        )
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _durable_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
