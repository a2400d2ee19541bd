"""How a saga is shown: its API's place and words (`SagaMonitor`), and the read models built from
its Durable status, the same for every saga, with its declared columns and its domain details.

Views are plain JSON-ready dicts built from the Durable status; nothing here does I/O (a saga's
`details` hook does, when durable_saga.monitor calls it).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from durable_saga.declaration import Saga
from durable_saga.documents import (
    PENDING,
    Attention,
    Ending,
    Phase,
    Progress,
    TraceContext,
    from_json_text,
    split_trace_context,
)

M = TypeVar("M", bound=BaseModel)

COMPLETED = "Completed"
RUNNING = "Running"
"""The Durable runtime status whose output is the saga's result."""
ENDED_BADLY = frozenset({"Failed", "Terminated"})

_COLLECTION = re.compile(r"[a-z][a-z0-9-]{0,39}")
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
KINDS = ("text", "number", "badge")


@dataclass(frozen=True)
class Column:
    """One field shown for each saga, read from its payload (a list column, a fact of one saga)
    or from a details record: "number" is right-aligned, "badge" drawn as a status badge."""

    field: str
    label: str
    kind: str = "text"

    def __post_init__(self) -> None:
        if not _FIELD.fullmatch(self.field):
            raise ValueError(f"column field {self.field!r} is not a JSON name")
        if self.kind not in KINDS:
            raise ValueError(f"column {self.field!r}: kind is one of {', '.join(KINDS)}")

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "label": self.label, "kind": self.kind}


@dataclass(frozen=True)
class DetailsPanel:
    """How the page shows the details a saga's `details` hook adds: the records under `field`
    of the saga's view, one row per (key, label), one column per record field."""

    field: str
    title: str
    row_header: str
    rows: tuple[tuple[str, str], ...]
    columns: tuple[Column, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "title": self.title,
            "rowHeader": self.row_header,
            "rows": [{"key": key, "label": label} for key, label in self.rows],
            "columns": [column.to_json() for column in self.columns],
        }


# (instance id, the saga's validated input or None) -> what the saga's view adds, e.g. ledgers.
Details = Callable[[str, Any], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class SagaMonitor:
    """A saga as its API and monitor show it.

    - `collection`: its path under the app's route prefix (`/api/orders`), and the list's key;
    - `id_field`: what its id is called in every document (`orderId`) and in the routes;
    - `noun`: what people call one (`order`), for titles and messages;
    - `columns`: fields of its payload shown in the list and on its page;
    - `details`, `panel`: what its domain adds to GET {collection}/{id} (the order's ledgers),
      and how the page shows it;
    - `example_id`: an id shown as an example in the page's search box;
    - `kept_on_terminate`: what stays when an operator terminates one (the confirmation says so).
    """

    saga: Saga
    collection: str
    id_field: str = "sagaId"
    noun: str = "saga"
    columns: tuple[Column, ...] = ()
    details: Details | None = None
    panel: DetailsPanel | None = None
    example_id: str | None = None
    kept_on_terminate: str = "what its steps already did"

    def __post_init__(self) -> None:
        if not _COLLECTION.fullmatch(self.collection):
            raise ValueError(f"collection {self.collection!r}: lowercase letters, digits, '-'")
        if not _FIELD.fullmatch(self.id_field):
            raise ValueError(f"id field {self.id_field!r} is not a JSON name")

    @property
    def title(self) -> str:
        """The noun as a title: `Order`."""
        return self.noun[:1].upper() + self.noun[1:]

    @property
    def a_noun(self) -> str:
        """The noun with its article: `an order`."""
        return f"{'an' if self.noun[:1] in 'aeiou' else 'a'} {self.noun}"

    def page_config(self) -> dict[str, Any]:
        """What the monitor page reads to show this saga."""
        return {
            "collection": self.collection,
            "idField": self.id_field,
            "noun": self.noun,
            "exampleId": self.example_id,
            "columns": [column.to_json() for column in self.columns],
            "stages": [stage.name for stage in self.saga.stages],
            "steps": [{"name": step.name, "label": step.title} for step in self.saga.steps],
            "details": None if self.panel is None else self.panel.to_json(),
        }


@dataclass(frozen=True)
class InstanceSnapshot:
    """What the Durable status API says about one saga instance.

    `input`, `custom_status` and `output` are as the status API returns them: parsed JSON, or
    JSON text when the host stored a JSON string (the Python client double-encodes inputs).
    """

    runtime_status: str
    input: Any
    custom_status: Any
    output: Any
    created_time: datetime | None
    last_updated_time: datetime | None

    def saga_input(self, saga: Saga) -> Any:
        """The saga's input as its orchestrator validates it, or None when it is not one."""
        raw = from_json_text(self.input)
        if raw is None:
            return None
        try:
            return saga.read_input(raw)
        except ValueError:
            return None

    def trace_context(self) -> TraceContext | None:
        """The trace the saga reports to: the span of the request that started it (None for a
        saga started while tracing was off)."""
        _, trace_context = split_trace_context(from_json_text(self.input))
        return trace_context

    def progress(self) -> Progress | None:
        return parsed(Progress, self.custom_status)

    def ending(self) -> Ending | None:
        """How the saga ended, once the instance completed."""
        return parsed(Ending, self.output) if self.runtime_status == COMPLETED else None

    def operator_wait(self) -> Attention | None:
        """What the saga asks of an operator, while it runs and waits for one (else None): the
        one rule for offering and for taking an operator's retry or resolve."""
        progress = self.progress()
        if (
            self.runtime_status != RUNNING
            or progress is None
            or progress.stage != Phase.NEEDS_ATTENTION
        ):
            return None
        return progress.attention


def saga_summary(monitor: SagaMonitor, saga_id: str, instance: InstanceSnapshot) -> dict[str, Any]:
    """What a saga says of itself: `{<id_field>, runtimeStatus, outcome, stage, <columns>, steps,
    createdTime, lastUpdatedTime}` (outcome null until the saga reports one, and for a saga that
    was terminated or failed; a column null when the input does not have it)."""
    saga = monitor.saga
    ending = instance.ending()
    progress = instance.progress()
    view: dict[str, Any] = {monitor.id_field: saga_id, "runtimeStatus": instance.runtime_status}
    reported = {}
    outcome: str | None = None
    if ending is not None:
        outcome = ending.outcome.value
        reported = ending.steps
    elif progress is not None:
        reported = progress.steps
        # A saga stopped from outside (terminated) or broken (failed) never decided.
        if instance.runtime_status not in ENDED_BADLY:
            outcome = progress.outcome.value
    view["outcome"] = outcome
    view["stage"] = progress.stage if progress is not None else None
    saga_input = instance.saga_input(saga)
    payload = saga.payload_of(saga_input) if saga_input is not None else None
    for column in monitor.columns:
        view[column.field] = payload.get(column.field) if isinstance(payload, dict) else None
    view["steps"] = {
        step.name: reported.get(step.name, PENDING).model_dump(mode="json") for step in saga.steps
    }
    view["createdTime"] = _timestamp(instance.created_time)
    view["lastUpdatedTime"] = _timestamp(instance.last_updated_time)
    return view


def saga_view(
    monitor: SagaMonitor,
    saga_id: str,
    instance: InstanceSnapshot,
    details: Mapping[str, Any],
    trace_viewer: str | None = None,
) -> dict[str, Any]:
    """GET {collection}/{id}: the summary, and `attention` (why a saga in stage needs_attention
    waits for an operator), `operatorRetries` and `resolution` (from a completed saga's
    result), `error` (the reason the host recorded for a failed or terminated one), `traceId`
    (a traced saga's trace) and `traceUrl` (where `trace_viewer`, a URL template, shows it),
    then the domain's `details`, so that a user sees the effects, not only the saga's belief
    about them."""
    view = saga_summary(monitor, saga_id, instance)
    trace_context = instance.trace_context()
    if trace_context is not None:
        view["traceId"] = trace_context.trace_id
        if trace_viewer is not None:
            view["traceUrl"] = trace_url(trace_viewer, trace_context.trace_id)
    ending = instance.ending()
    progress = instance.progress()
    if progress is not None and progress.attention is not None:
        view["attention"] = progress.attention.model_dump(mode="json")
    if ending is not None:
        view["operatorRetries"] = ending.operatorRetries
        if ending.resolution is not None:
            view["resolution"] = ending.resolution.model_dump(mode="json")
    if instance.runtime_status in ENDED_BADLY and isinstance(instance.output, str):
        view["error"] = instance.output  # the reason the host recorded
    view.update(details)
    return view


TRACE_ID_SLOT = "{traceId}"


def check_trace_viewer(template: str) -> str:
    """A trace viewer's URL template (`https://jaeger.example/trace/{traceId}`), or ValueError
    saying what is wrong with it."""
    if not template.startswith(("https://", "http://")) or TRACE_ID_SLOT not in template:
        raise ValueError(
            f"{template!r} is not an http(s) URL with {TRACE_ID_SLOT} where the trace id goes"
        )
    return template


def trace_url(template: str, trace_id: str) -> str:
    """Where the viewer shows a trace: the template with the trace id in its slot."""
    return template.replace(TRACE_ID_SLOT, trace_id)


def _timestamp(moment: datetime | None) -> str | None:
    """The Durable status API's format: UTC to the second, `Z` suffix."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parsed(model: type[M], value: Any) -> M | None:
    """`value` (JSON text, or already parsed) as `model`, or None when it is not one."""
    value = from_json_text(value)
    if value is None:
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None
