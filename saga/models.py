"""The order's data, validated on every side of every Durable boundary.

Everything that crosses a boundary travels as plain JSON (`model_dump(mode="json")`) and is
validated again on arrival, so a replay or a retry never depends on pickled objects. What every
saga has (step results, outcome, the operator's documents) is durable_saga.documents'.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from durable_saga.documents import (
    PENDING,
    Identifier,
    Outcome,
    Resolution,
    SagaPolicy,
    StepResult,
)

CENT = Decimal("0.01")
MAX_LINES = 50  # one entity-group batch holds at most 100 operations
MAX_QUANTITY = 10_000


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


class SagaInput(Model):
    """The order saga's input: the priced order every step receives, and the policy it runs
    under (from the app's settings when it started)."""

    order: PricedOrder
    policy: SagaPolicy = SagaPolicy()


class SagaSteps(Model):
    """Each step of the order saga as it ended (durable_saga.documents.StepResult)."""

    order: StepResult = PENDING
    payment: StepResult = PENDING


class SagaResult(Model):
    """The orchestrator's output."""

    orderId: Identifier
    outcome: Outcome
    amount: Money
    steps: SagaSteps
    operatorRetries: int = 0
    resolution: Resolution | None = None
