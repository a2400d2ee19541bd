"""Spans as the tests read them: the toolkit traced into an in-memory exporter, and each finished
span reduced to what a trace viewer shows (name, ids, parent, times, attributes, status)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from durable_saga import tracing
from durable_saga.documents import TraceContext

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REQUEST_SPAN = "00f067aa0ba902b7"
REQUEST = TraceContext(traceparent=f"00-{TRACE_ID}-{REQUEST_SPAN}-01")


@dataclass(frozen=True)
class Span:
    """One finished span, as a viewer shows it."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    start: datetime
    end: datetime
    attributes: dict[str, Any]
    error: str | None
    events: tuple[str, ...]
    links: tuple[str, ...]
    kind: str

    @classmethod
    def of(cls, span: ReadableSpan) -> Span:
        assert span.context is not None and span.start_time is not None
        assert span.end_time is not None
        error = span.status.description or "error"
        return cls(
            name=span.name,
            trace_id=f"{span.context.trace_id:032x}",
            span_id=f"{span.context.span_id:016x}",
            parent_id=None if span.parent is None else f"{span.parent.span_id:016x}",
            start=_time(span.start_time),
            end=_time(span.end_time),
            attributes=dict(span.attributes or {}),
            error=error if span.status.status_code is StatusCode.ERROR else None,
            events=tuple(event.name for event in span.events),
            links=tuple(f"{link.context.span_id:016x}" for link in span.links),
            kind=span.kind.name,
        )

    def __getitem__(self, attribute: str) -> Any:
        return self.attributes[attribute]


def _time(nanoseconds: int) -> datetime:
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC)


class Spans:
    """The spans the toolkit finished while a test ran."""

    def __init__(self, exporter: InMemorySpanExporter, provider: TracerProvider) -> None:
        self.exporter = exporter
        self.provider = provider  # what an app's own code would trace with

    def all(self) -> list[Span]:
        """Every span finished so far, in the order they started: by their start time, and
        those that started at one instant of the kit's virtual clock in the order the saga
        reported them (the order it learnt of them)."""
        spans = [Span.of(span) for span in self.exporter.get_finished_spans()]
        return sorted(spans, key=lambda span: span.start)

    def named(self, *names: str) -> list[Span]:
        return [span for span in self.all() if span.name in names]

    def one(self, name: str) -> Span:
        [span] = self.named(name)
        return span

    def attempts(self) -> list[Span]:
        """The attempt spans (those with an activity), in the order they started."""
        return [span for span in self.all() if "saga.activity" in span.attributes]


@pytest.fixture
def spans() -> Iterator[Spans]:
    """The toolkit traces into an in-memory exporter for the test, and is off again after."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield Spans(exporter, provider)
    finally:
        tracing.use(None)
        provider.shutdown()


def traced(saga_input: dict[str, Any], trace_context: TraceContext = REQUEST) -> dict[str, Any]:
    """A saga input as the toolkit's starter writes it while tracing: with the request's span."""
    return {**saga_input, "traceContext": trace_context.model_dump(exclude_none=True)}


def tree(spans: Sequence[Span]) -> dict[str, list[str]]:
    """Each span's name -> the names of its children, in the order they started."""
    by_id = {span.span_id: span for span in spans}
    children: dict[str, list[str]] = {span.name: [] for span in spans}
    for span in spans:
        if span.parent_id in by_id:
            children[by_id[span.parent_id].name].append(span.name)
    return children
