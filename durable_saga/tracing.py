"""Where a saga's spans go, decided once per process from the app's settings, and the few calls
that hand spans to OpenTelemetry.

- `APPLICATIONINSIGHTS_CONNECTION_STRING` set (as the deployment sets it): spans go to
  Application Insights through azure-monitor-opentelemetry, which also honours
  `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (Microsoft Entra). Only traces: the Functions host
  already sends the app's logs and metrics there.
- else `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set: spans go over
  OTLP/HTTP, in batches, the exporter configured by the standard `OTEL_*` variables.
  `OTEL_TRACES_EXPORTER` chooses otherwise when it is set: `otlp`, `console` (each span printed
  to stdout as it ends, to look at a trace without any backend) or both, or `none`.
- else tracing is off: no provider, no exporter, and each place that could trace checks one
  variable and moves on.

A process that configured OpenTelemetry before (the app itself, or a distro) keeps its provider:
the toolkit traces into it. `use(provider)` hands the toolkit a provider explicitly (a test's, with
an in-memory exporter). The toolkit fixes the ids of the spans the orchestrator reports
(durable_saga.traces derives them) by giving its own tracer an id generator that returns a given
id while the toolkit starts such a span, and the provider's own ids otherwise.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, Tracer, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from durable_saga.documents import TraceContext
from durable_saga.traces import AttributeValue, SpanRecord

SCOPE = "durable_saga"
APPLICATION_INSIGHTS = "APPLICATIONINSIGHTS_CONNECTION_STRING"
OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
EXPORTERS = "OTEL_TRACES_EXPORTER"
SAMPLER = "OTEL_TRACES_SAMPLER"
OTLP, CONSOLE = "otlp", "console"
SERVICE_NAME = "OTEL_SERVICE_NAME"
# The Function App's name on Azure, the service's default name there.
SITE_NAME = "WEBSITE_SITE_NAME"
DEFAULT_SERVICE_NAME = "saga-app"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

log = logging.getLogger(__name__)

_lock = threading.RLock()
_decided = False
_tracer: Tracer | None = None
# The id the next span the toolkit starts gets (None: the provider's own).
_pinned: ContextVar[int | None] = ContextVar("durable_saga_pinned_span_id", default=None)


class _PinnedSpanIds(IdGenerator):
    """The provider's ids, except for a span whose id the toolkit derived."""

    def __init__(self, ids: IdGenerator) -> None:
        self.ids = ids

    def generate_span_id(self) -> int:
        pinned = _pinned.get()
        return self.ids.generate_span_id() if pinned is None else pinned

    def generate_trace_id(self) -> int:
        return self.ids.generate_trace_id()

    def is_trace_id_random(self) -> bool:
        return self.ids.is_trace_id_random()


def tracer() -> Tracer | None:
    """The toolkit's tracer, or None while tracing is off. The first call decides (`configure`)."""
    if not _decided:
        configure()
    return _tracer


def use(provider: TracerProvider | None) -> None:
    """Trace into `provider` from now on (None: tracing off)."""
    global _decided, _tracer
    chosen = None if provider is None else provider.get_tracer(SCOPE)
    if not isinstance(chosen, Tracer):
        chosen = None  # off, or a disabled provider's no-op tracer
    elif not isinstance(chosen.id_generator, _PinnedSpanIds):
        chosen.id_generator = _PinnedSpanIds(chosen.id_generator)
    with _lock:
        _tracer, _decided = chosen, True


def configure() -> None:
    """Decide, once per process, where spans go (see the module's docstring)."""
    with _lock:
        if _decided:
            return
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            use(current)
        elif os.environ.get(APPLICATION_INSIGHTS):
            use(_azure_monitor())
        else:
            exporters = chosen_exporters(os.environ)
            use(_provider(exporters) if exporters else None)


def chosen_exporters(environ: Mapping[str, str]) -> list[str]:
    """Where spans go without Application Insights: OTEL_TRACES_EXPORTER's names when it is set
    (`none` for none), else OTLP when an OTLP endpoint is set, else nowhere."""
    chosen = environ.get(EXPORTERS, "").strip()
    if not chosen:
        return [OTLP] if any(environ.get(name) for name in OTLP_ENDPOINTS) else []
    names = [name.strip().lower() for name in chosen.split(",")]
    unknown = sorted(set(names) - {OTLP, CONSOLE, "none"})
    if unknown:
        log.error(
            "%s names %s, which the toolkit does not know; it knows otlp, console and none",
            EXPORTERS,
            ", ".join(unknown),
        )
    return [name for name in (OTLP, CONSOLE) if name in names]


def _azure_monitor() -> TracerProvider | None:
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
    except ImportError as error:
        log.error(
            "%s is set but azure-monitor-opentelemetry is not installed (%s): no spans are sent",
            APPLICATION_INSIGHTS,
            error,
        )
        return None
    # The distro's default sampler keeps a number of spans a second, drawing each span anew
    # against a rate that moves with the load (children of a remote parent included, which all
    # of a saga's spans are): a saga's trace would lose spans at random. A fixed ratio draws by
    # trace id, the same for every span of a saga: all of a saga's spans, or none. Every saga
    # is kept unless OTEL_TRACES_SAMPLER says otherwise (microsoft.fixed_percentage with
    # OTEL_TRACES_SAMPLER_ARG 0.1 keeps one saga in ten, whole).
    sampling = {} if os.environ.get(SAMPLER) else {"sampling_ratio": 1.0}
    configure_azure_monitor(
        disable_logging=True,
        disable_metrics=True,
        enable_live_metrics=False,
        enable_performance_counters=False,
        **sampling,
    )
    provider = trace.get_tracer_provider()
    return provider if isinstance(provider, TracerProvider) else None


def _provider(exporters: list[str]) -> TracerProvider | None:
    """A provider of its own that sends spans to `exporters`, set as the process's."""
    processors: list[SpanProcessor] = []
    if OTLP in exporters:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as error:
            log.error(
                "spans are to go over OTLP, but opentelemetry-exporter-otlp-proto-http is not "
                "installed (%s)",
                error,
            )
        else:
            processors.append(BatchSpanProcessor(OTLPSpanExporter()))
    if CONSOLE in exporters:
        processors.append(SimpleSpanProcessor(ConsoleSpanExporter()))
    if not processors:
        return None
    name = os.environ.get(SERVICE_NAME) or os.environ.get(SITE_NAME) or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    for processor in processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return provider


def emit(record: SpanRecord) -> None:
    """Hand a finished span with its derived id to the exporter (nothing while tracing is off)."""
    tracing = tracer()
    if tracing is None:
        return
    parent = trace.set_span_in_context(
        NonRecordingSpan(_span_context(record.trace, record.parent_id))
    )
    links = [Link(_span_context(link, link.span_id)) for link in record.links]
    token = _pinned.set(int(record.span_id, 16))
    try:
        span = tracing.start_span(
            record.name,
            context=parent,
            kind=SpanKind.SERVER if record.server else SpanKind.INTERNAL,
            attributes=dict(record.attributes),
            links=links,
            start_time=_nanoseconds(record.start),
        )
    finally:
        _pinned.reset(token)
    for event in record.events:
        span.add_event(event.name, dict(event.attributes), timestamp=_nanoseconds(event.at))
    if record.error is not None:
        span.add_event("exception", {"exception.message": record.error}, _nanoseconds(record.end))
        span.set_status(Status(StatusCode.ERROR, record.error))
    span.end(end_time=_nanoseconds(record.end))


@contextmanager
def request_span(
    name: str,
    caller: Any,
    attributes: Mapping[str, AttributeValue],
    within: TraceContext | None = None,
) -> Iterator[Span | None]:
    """A server span for an HTTP request, current inside the block (None while tracing is off).

    `caller` is the invocation's `context.trace_context` (the host's span for the request). The
    span continues the caller's trace when that is sampled, and starts a trace of its own
    otherwise, since a child of an unsampled parent would be dropped. A request that belongs to
    a saga's trace (an operator's command) is a child of `within` instead, linked to the
    caller's span when that is sampled."""
    tracing = tracer()
    if tracing is None:
        yield None
        return
    carrier = {
        "traceparent": getattr(caller, "trace_parent", "") or "",
        "tracestate": getattr(caller, "trace_state", "") or "",
    }
    incoming = TraceContextTextMapPropagator().extract(carrier)
    calling = trace.get_current_span(incoming).get_span_context()
    parent, links = (incoming if calling.trace_flags.sampled else Context()), []
    if within is not None:
        parent = trace.set_span_in_context(NonRecordingSpan(_span_context(within, within.span_id)))
        links = [Link(calling)] if calling.trace_flags.sampled else []
    with tracing.start_as_current_span(
        name,
        context=parent,
        kind=SpanKind.SERVER,
        attributes=dict(attributes),
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def answered(span: Span | None, status: int) -> None:
    """Record the response's status on a request span; a 5xx is an error of the server's."""
    if span is None:
        return
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def set_attribute(span: Span | None, name: str, value: AttributeValue) -> None:
    if span is not None:
        span.set_attribute(name, value)


def link(span: Span | None, to: TraceContext | None) -> None:
    """Link a span to another, in another trace (a repeated start to the saga it asked for)."""
    if span is not None and to is not None:
        span.add_link(_span_context(to, to.span_id))


def context_of(span: Span | None) -> TraceContext | None:
    """The trace context a span hands on (None unless it is sampled: unsampled spans' children
    are not recorded, so there is nothing to carry)."""
    if span is None:
        return None
    found = span.get_span_context()
    if not (found.is_valid and found.trace_flags.sampled):
        return None
    return TraceContext(
        traceparent=f"00-{found.trace_id:032x}-{found.span_id:016x}-01",
        tracestate=found.trace_state.to_header() or None,
    )


@contextmanager
def current(trace_context: TraceContext | None) -> Iterator[None]:
    """Inside the block, the span `trace_context` names is the current span: spans started there
    (by the app's own code or its libraries) are its children."""
    if trace_context is None:
        yield
        return
    # A process that only runs activities decides here where its spans go, like any other.
    tracer()
    remote = NonRecordingSpan(_span_context(trace_context, trace_context.span_id))
    token = otel_context.attach(trace.set_span_in_context(remote))
    try:
        yield
    finally:
        otel_context.detach(token)


def _span_context(trace_context: TraceContext, span_id: str) -> SpanContext:
    return SpanContext(
        int(trace_context.trace_id, 16),
        int(span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState.from_header([trace_context.tracestate or ""]),
    )


def _nanoseconds(moment: datetime) -> int:
    """Nanoseconds since the epoch, exactly (a float timestamp would round the microseconds)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000
