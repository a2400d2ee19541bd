"""The saga's data, validated on every side of every Durable boundary.

Everything that crosses a boundary travels as plain JSON (`model_dump(mode="json")`) and is
validated again on arrival, so a replay or a retry never depends on pickled objects.
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

CENT = Decimal("0.01")
MAX_LINES = 50  # one entity-group batch holds at most 100 operations
MAX_QUANTITY = 10_000

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


def money(value: Decimal | str | int) -> Decimal:
    """A money amount with exactly two places (rounding is the caller's decision, not ours)."""
    amount = Decimal(value)
    if amount != amount.quantize(CENT):
        raise ValueError(f"money has at most two decimal places, got {value}")
    return amount.quantize(CENT)


Money = Annotated[Decimal, AfterValidator(money)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderLine(Model):
    sku: Identifier
    quantity: int = Field(ge=1, le=MAX_QUANTITY, strict=True)


class OrderRequest(Model):
    """The body of POST /api/orders."""

    orderId: Identifier | None = None
    customerId: Identifier
    items: list[OrderLine] = Field(min_length=1, max_length=MAX_LINES)

    @field_validator("items")
    @classmethod
    def _one_line_per_sku(cls, items: list[OrderLine]) -> list[OrderLine]:
        seen: set[str] = set()
        for line in items:
            if line.sku in seen:
                raise ValueError(f"sku {line.sku!r} appears more than once; merge the quantities")
            seen.add(line.sku)
        return items


class PricedLine(Model):
    sku: Identifier
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    unitPrice: Money


class PricedOrder(Model):
    """An order priced from the catalog: what the saga reserves and charges."""

    orderId: Identifier
    customerId: Identifier
    lines: list[PricedLine] = Field(min_length=1, max_length=MAX_LINES)
    amount: Money

    def same_request(self, request: OrderRequest) -> bool:
        """True when `request` asks for exactly this order (prices may have moved since)."""
        asked = {(line.sku, line.quantity) for line in request.items}
        have = {(line.sku, line.quantity) for line in self.lines}
        return request.customerId == self.customerId and asked == have


# Six days: the longest durable timer the SDK creates as one timer on Azure Storage. A longer one
# becomes a chain of timers, whose cancellation the SDK has got wrong before (a completed saga
# would stay Running until the deadline); step deadlines are minutes, so keep to one timer.
MAX_STEP_DEADLINE_SECONDS = 6 * 24 * 3600


class SagaPolicy(Model):
    """Retry and deadline settings, fixed into the saga's input so every replay sees the same."""

    stepRetryAttempts: int = Field(default=3, ge=1, le=100)
    stepRetryIntervalMs: int = Field(default=1000, ge=1)
    compensationRetryAttempts: int = Field(default=10, ge=1, le=1000)
    compensationRetryIntervalMs: int = Field(default=2000, ge=1)
    stepDeadlineSeconds: float = Field(default=60.0, gt=0, le=MAX_STEP_DEADLINE_SECONDS)


class SagaInput(Model):
    order: PricedOrder
    policy: SagaPolicy = SagaPolicy()


class StepStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"  # a business failure: nothing took effect
    FAILED = "failed"  # still failing after its retries; outcome unknown
    TIMED_OUT = "timed_out"  # not settled by the deadline; outcome unknown
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"


class StepResult(Model):
    status: StepStatus
    reason: str | None = None


class StepOutcome(Model):
    """What a forward or rollback activity returns. Business failures are outcomes, not errors,
    so they are never retried."""

    ok: bool
    reason: str | None = None


class Outcome(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    # A rollback still failed after its retries; the saga waits for an operator.
    COMPENSATION_FAILED = "compensation_failed"
    # An operator said the failed rollback was put right by hand.
    RESOLVED_MANUALLY = "resolved_manually"


class SagaSteps(Model):
    order: StepResult = StepResult(status=StepStatus.PENDING)
    payment: StepResult = StepResult(status=StepStatus.PENDING)


MAX_NOTE_LENGTH = 500


class Attention(Model):
    """Why a saga waits for an operator: which rollbacks still fail, and the last error."""

    rollbacks: list[str]
    lastError: str
    operatorRetries: int = 0


class SagaProgress(Model):
    """The orchestrator's custom status, updated at each stage."""

    stage: str
    outcome: Outcome = Outcome.RUNNING
    steps: SagaSteps = SagaSteps()
    attention: Attention | None = None


class OperatorCommand(Model):
    """Retry the failed rollbacks, or say they were put right by hand (with a note)."""

    action: Literal["retry", "resolve"]
    note: str | None = Field(
        default=None, min_length=1, max_length=MAX_NOTE_LENGTH, validate_default=True
    )


class OperatorDecision(OperatorCommand):
    """What an operator tells a saga that waits in stage needs_attention (an external event).

    `operatorRetries` is the count the operator saw in the saga's status: a command meant for an
    earlier wait (a double click, a retried request) is recognised and ignored.
    """

    operatorRetries: int = Field(ge=0)


class CompensationRequest(OperatorCommand):
    """The body of POST /api/orders/{orderId}/compensation (a resolve must say, in its note, what
    was done, for whoever reads the saga later)."""

    @field_validator("note")
    @classmethod
    def _resolve_says_how(cls, note: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("action") == "resolve" and not (note and note.strip()):
            raise ValueError("a resolve needs a note (1-500 characters) saying what was done")
        return note


class Resolution(Model):
    """An operator's word that what the failed rollback left was put right by hand."""

    note: str
    resolvedAt: str


class SagaResult(Model):
    """The orchestrator's output."""

    orderId: Identifier
    outcome: Outcome
    amount: Money
    steps: SagaSteps
    operatorRetries: int = 0
    resolution: Resolution | None = None
