"""A saga's trace, as data: the spans the toolkit reports, what they say, and how their ids are
made. Pure: durable_saga.tracing hands the records to OpenTelemetry.

One trace per saga: the request that started it is the root, the saga span its child, and every
attempt of a step or a compensation a child of the saga span. The orchestrator reports a span
only for what is new in its episode, so a replay reports nothing, and gives each span an id
derived from the instance, its execution and what the span is (the saga, the nth attempt of an
activity, the nth operator decision): a span reported twice, after a crash before a checkpoint,
has the same id both times, and nothing random or read from a clock goes in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from durable_saga.documents import TraceContext

AttributeValue = str | int | bool

# Attribute names, in the saga's own namespace.
SAGA_NAME = "saga.name"
SAGA_ID = "saga.id"
INSTANCE_ID = "saga.instance_id"
EXECUTION_ID = "saga.execution_id"
STAGE = "saga.stage"
STEP = "saga.step"
ACTION = "saga.action"  # "forward" or "compensation"
ACTIVITY = "saga.activity"
ATTEMPT = "saga.attempt"
OUTCOME = "saga.outcome"
REASON = "saga.reason"
OPERATOR_ACTION = "saga.operator.action"
OPERATOR_NOTE = "saga.operator.note"
OPERATOR_RETRIES = "saga.operator_retries"
STARTED = "saga.started"  # on a start request: whether it started the saga (not a repeat)

FORWARD = "forward"
COMPENSATION = "compensation"
TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class SpanEvent:
    """Something that happened at one instant of a span (a step settled, the saga waited)."""

    name: str
    at: datetime
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)


@dataclass(frozen=True)
class SpanRecord:
    """One finished span: in the trace of `trace`, with id `span_id`, under `parent_id`."""

    name: str
    trace: TraceContext
    span_id: str
    parent_id: str
    start: datetime
    end: datetime
    attributes: Mapping[str, AttributeValue]
    error: str | None = None
    events: tuple[SpanEvent, ...] = ()
    links: tuple[TraceContext, ...] = ()
    server: bool = False

    def context(self) -> TraceContext:
        """The trace context of this span, for whatever runs under it."""
        return child_context(self.trace, self.span_id)


def child_context(trace: TraceContext, span_id: str) -> TraceContext:
    """The context of span `span_id` in the trace of `trace` (sampled, its trace state kept)."""
    return TraceContext(
        traceparent=f"00-{trace.trace_id}-{span_id}-01", tracestate=trace.tracestate
    )


def derived_span_id(*parts: str) -> str:
    """A span id (16 hex digits, never all zeros) that depends on `parts` alone."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    for start in range(0, len(digest), 16):
        candidate = digest[start : start + 16]
        if int(candidate, 16):
            return candidate
    raise AssertionError("a SHA-256 digest of zeros")  # pragma: no cover


@dataclass(frozen=True)
class SagaSpans:
    """The ids of one saga execution's spans, and the attributes every one of them carries."""

    saga: str
    instance_id: str
    execution_id: str
    trace: TraceContext  # the request span's context: the saga span's parent

    @property
    def saga_span_id(self) -> str:
        return derived_span_id(self.instance_id, self.execution_id, "saga")

    def attempt_span_id(self, activity: str, attempt: int) -> str:
        return derived_span_id(self.instance_id, self.execution_id, activity, str(attempt))

    def decision_span_id(self, decision: int) -> str:
        return derived_span_id(self.instance_id, self.execution_id, "decision", str(decision))

    def common(self) -> dict[str, AttributeValue]:
        # The saga's id is its instance id; both are named so that either finds the trace.
        return {
            SAGA_NAME: self.saga,
            SAGA_ID: self.instance_id,
            INSTANCE_ID: self.instance_id,
            EXECUTION_ID: self.execution_id,
        }

    def attempt_context(self, activity: str, attempt: int) -> TraceContext:
        """What the attempt's payload carries: its own span, so the activity's spans nest in it."""
        return child_context(self.trace, self.attempt_span_id(activity, attempt))


@dataclass(frozen=True)
class AttemptSpan:
    """One attempt of an activity, as the orchestrator scheduled it."""

    activity: str
    step: str
    stage: str
    compensates: bool
    attempt: int
    scheduled: datetime


def attempt_record(
    spans: SagaSpans,
    attempt: AttemptSpan,
    ended: datetime,
    outcome: str,
    reason: str | None,
    error: bool,
) -> SpanRecord:
    """The span of one attempt: `outcome` succeeded, refused (an answer: no error), failed (an
    error, `reason` its text) or timed_out (still running at its step's deadline: an error)."""
    attributes = spans.common() | {
        STAGE: attempt.stage,
        STEP: attempt.step,
        ACTION: COMPENSATION if attempt.compensates else FORWARD,
        ACTIVITY: attempt.activity,
        ATTEMPT: attempt.attempt,
        OUTCOME: outcome,
    }
    if reason is not None:
        attributes[REASON] = reason
    return SpanRecord(
        name=attempt.activity,
        trace=spans.trace,
        span_id=spans.attempt_span_id(attempt.activity, attempt.attempt),
        parent_id=spans.saga_span_id,
        start=attempt.scheduled,
        end=max(ended, attempt.scheduled),
        attributes=attributes,
        error=(reason or outcome) if error else None,
    )


def saga_record(
    spans: SagaSpans,
    started: datetime,
    decided: datetime,
    outcome: str,
    operator_retries: int,
    events: tuple[SpanEvent, ...],
) -> SpanRecord:
    """The saga's own span, from its first episode to the one that decided its outcome."""
    return SpanRecord(
        name=spans.saga,
        trace=spans.trace,
        span_id=spans.saga_span_id,
        parent_id=spans.trace.span_id,
        start=started,
        end=max(decided, started),
        attributes=spans.common() | {OUTCOME: outcome, OPERATOR_RETRIES: operator_retries},
        events=events,
    )


def decision_record(
    spans: SagaSpans,
    decision: int,
    action: str,
    note: str | None,
    operator_retries: int,
    sent_from: TraceContext | None,
    received: datetime,
) -> SpanRecord:
    """An operator's decision as the saga received it: under the span of the request that sent
    it when that request is in the saga's trace, else under the saga span, linked to it."""
    in_trace = sent_from is not None and sent_from.trace_id == spans.trace.trace_id
    attributes = spans.common() | {
        OPERATOR_ACTION: action,
        OPERATOR_RETRIES: operator_retries,
    }
    if note is not None:
        attributes[OPERATOR_NOTE] = note
    return SpanRecord(
        name=f"{spans.saga} operator {action}",
        trace=spans.trace,
        span_id=spans.decision_span_id(decision),
        parent_id=sent_from.span_id if sent_from is not None and in_trace else spans.saga_span_id,
        start=received,
        end=received,
        attributes=attributes,
        links=(sent_from,) if sent_from is not None and not in_trace else (),
    )
