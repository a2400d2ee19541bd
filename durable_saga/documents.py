"""The documents a saga exchanges, validated on every side of every Durable boundary.

Everything that crosses a boundary travels as plain JSON (`model_dump(mode="json")`) and is
validated again on arrival, so a replay or a retry never depends on pickled objects. Field names
are the JSON's (camelCase), as the status API, the result and the operator's HTTP API show them.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

_FORBIDDEN_ID_CHARS = set("/\\#?")


def from_json_text(value: Any) -> Any:
    """`value`, or the document it holds when it is JSON text: the Durable APIs pass a JSON
    string on as it was stored, so one side may see text where the other sent a document."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _check_identifier(value: str) -> str:
    """Durable instance ids and table keys reject these characters; refuse them at the door."""
    if value.startswith("@"):
        raise ValueError("must not start with '@'")
    bad = sorted({c for c in value if c in _FORBIDDEN_ID_CHARS or ord(c) < 32 or ord(c) == 127})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(f"must not contain {shown}")
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_check_identifier)]
"""An id fit to be a Durable instance id and a table key (a saga's id, a customer, a SKU)."""


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Six days: the longest durable timer the SDK creates as one timer on Azure Storage. A longer one
# becomes a chain of timers, whose cancellation the SDK has got wrong before (a completed saga
# would stay Running until the deadline); step deadlines are minutes, so keep to one timer.
MAX_STEP_DEADLINE_SECONDS = 6 * 24 * 3600


class SagaPolicy(Document):
    """The saga-wide retry and deadline defaults. A saga's input may carry one (field `policy`),
    written when it starts, so that every replay of a running saga sees the policy it began with."""

    stepRetryAttempts: int = Field(default=3, ge=1, le=100)
    stepRetryIntervalMs: int = Field(default=1000, ge=1)
    compensationRetryAttempts: int = Field(default=10, ge=1, le=1000)
    compensationRetryIntervalMs: int = Field(default=2000, ge=1)
    stepDeadlineSeconds: float = Field(default=60.0, gt=0, le=MAX_STEP_DEADLINE_SECONDS)


class StepOutcome(Document):
    """What a forward or compensating activity returns. Business failures are outcomes, not
    errors, so they are never retried."""

    ok: bool
    reason: str | None = None


class StepStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"  # a business failure: nothing took effect
    FAILED = "failed"  # still failing after its retries; outcome unknown
    TIMED_OUT = "timed_out"  # not settled by the deadline; outcome unknown
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"


class StepResult(Document):
    status: StepStatus
    reason: str | None = None


PENDING = StepResult(status=StepStatus.PENDING)


class Outcome(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    # A compensation still failed after its retries; the saga waits for an operator.
    COMPENSATION_FAILED = "compensation_failed"
    # An operator said the failed compensation was put right by hand.
    RESOLVED_MANUALLY = "resolved_manually"


class Phase(StrEnum):
    """Where the saga is in its lifecycle: the custom status's `stage`."""

    STARTED = "started"
    STEP_SETTLED = "step_settled"
    COMPENSATING = "compensating"
    ROLLBACK_SETTLED = "rollback_settled"
    NEEDS_ATTENTION = "needs_attention"
    FINISHED = "finished"


TRACE_CONTEXT_FIELD = "traceContext"
"""The toolkit's field in a saga's input, an activity's payload and an operator's decision: the
W3C trace context of the span the saga, the attempt or the decision belongs under."""


class TraceContext(Document):
    """Where a span sits in a trace, as W3C Trace Context carries it between processes: the
    `traceparent` (version, trace id, parent span id, flags) and the vendors' `tracestate`."""

    traceparent: str = Field(pattern=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
    tracestate: str | None = Field(default=None, max_length=512)

    @property
    def trace_id(self) -> str:
        return self.traceparent[3:35]

    @property
    def span_id(self) -> str:
        return self.traceparent[36:52]

    @property
    def sampled(self) -> bool:
        return bool(int(self.traceparent[53:55], 16) & 0x01)

    @field_validator("traceparent")
    @classmethod
    def _ids_not_zero(cls, traceparent: str) -> str:
        if not int(traceparent[3:35], 16) or not int(traceparent[36:52], 16):
            raise ValueError("a trace id or span id of zeros names no span")
        return traceparent


def split_trace_context(document: Any) -> tuple[Any, TraceContext | None]:
    """A document without the toolkit's trace context field, and that context (None when there
    is none, or it is not one: a malformed trace context is ignored, as W3C asks)."""
    if not isinstance(document, dict) or TRACE_CONTEXT_FIELD not in document:
        return document, None
    rest = {key: value for key, value in document.items() if key != TRACE_CONTEXT_FIELD}
    try:
        return rest, TraceContext.model_validate(document[TRACE_CONTEXT_FIELD])
    except ValidationError:
        return rest, None


MAX_NOTE_LENGTH = 500


class Attention(Document):
    """Why a saga waits for an operator: which compensations still fail (by step name), and the
    last error."""

    rollbacks: list[str]
    lastError: str
    operatorRetries: int = 0


class Progress(Document):
    """The orchestrator's custom status, updated at each phase.

    `steps` holds every declared step by name, in declaration order. `activeStage` names the
    declared stage the saga works on (running its steps or compensating them, and the one it
    ended in); it is written only for a saga of more than one stage, so a one-stage saga's
    status keeps the four fields it always had."""

    stage: str
    outcome: Outcome = Outcome.RUNNING
    steps: dict[str, StepResult] = {}
    attention: Attention | None = None
    activeStage: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.activeStage is None:
            return self.model_dump(mode="json", exclude={"activeStage"})
        return self.model_dump(mode="json")


class OperatorCommand(Document):
    """Retry the failed compensations, or say they were put right by hand (with a note)."""

    action: Literal["retry", "resolve"]
    note: str | None = Field(
        default=None, min_length=1, max_length=MAX_NOTE_LENGTH, validate_default=True
    )


class OperatorDecision(OperatorCommand):
    """What an operator tells a saga that waits in phase needs_attention (an external event).

    `operatorRetries` is the count the operator saw in the saga's status: a command meant for an
    earlier wait (a double click, a retried request) is recognised and ignored.
    """

    operatorRetries: int = Field(ge=0)
    # The span of the request that sent it (durable_saga.monitor), for the saga's trace.
    traceContext: TraceContext | None = None


class CompensationRequest(OperatorCommand):
    """The body of POST /api/{collection}/{id}/compensation (a resolve must say, in its note,
    what was done, for whoever reads the saga later)."""

    @field_validator("note")
    @classmethod
    def _resolve_says_how(cls, note: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("action") == "resolve" and not (note and note.strip()):
            raise ValueError("a resolve needs a note (1-500 characters) saying what was done")
        return note


class Resolution(Document):
    """An operator's word that what the failed compensation left was put right by hand."""

    note: str
    resolvedAt: str


ACTIVITY_PAYLOAD_FIELD = "payload"


def traced_payload(payload: Any, trace_context: TraceContext) -> dict[str, Any]:
    """What an attempt of a traced saga's activity receives: its payload, and the trace context
    of the attempt's span."""
    return {
        TRACE_CONTEXT_FIELD: trace_context.model_dump(exclude_none=True),
        ACTIVITY_PAYLOAD_FIELD: payload,
    }


def untraced_payload(received: Any) -> tuple[Any, TraceContext | None]:
    """An activity's payload and its attempt's trace context (None for a payload sent without
    one: a saga started while tracing was off, or before it was traced at all)."""
    if isinstance(received, dict) and set(received) == {
        TRACE_CONTEXT_FIELD,
        ACTIVITY_PAYLOAD_FIELD,
    }:
        payload, trace_context = split_trace_context(received)
        return payload[ACTIVITY_PAYLOAD_FIELD], trace_context
    return received, None


class Ending(BaseModel):
    """How a saga ended: the part of its result every saga has. A saga's declared result adds
    its own fields around these, so reading a result ignores what it does not know."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    outcome: Outcome
    steps: dict[str, StepResult]
    operatorRetries: int = 0
    resolution: Resolution | None = None
