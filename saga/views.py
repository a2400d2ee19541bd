"""Read models for the GET endpoints: what a user sees of an order, a customer and a SKU.

Money is always a JSON string with exactly two places ("1000.00"), never a number, so that no
client parses it into a float. Views are plain JSON-ready dicts built from the Durable status and
the ledgers; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from durable_saga.documents import Attention, Phase, Progress, from_json_text
from saga.inventory import CatalogItem, OrderRecord
from saga.models import CENT, SagaInput, SagaResult, SagaSteps
from saga.wallet import PaymentRecord, Wallet

M = TypeVar("M", bound=BaseModel)

COMPLETED = "Completed"
RUNNING = "Running"
"""The Durable runtime status whose output is the saga's result."""
_ENDED_BADLY = {"Failed", "Terminated"}


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

    def saga_input(self) -> SagaInput | None:
        return parsed(SagaInput, self.input)

    def progress(self) -> Progress | None:
        return parsed(Progress, self.custom_status)

    def result(self) -> SagaResult | None:
        return parsed(SagaResult, self.output) if self.runtime_status == COMPLETED else None

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


def money_text(amount: Decimal) -> str:
    """Money as a JSON string with two places: Decimal("1000") -> "1000.00"."""
    return f"{amount.quantize(CENT):f}"


def customer_view(wallet: Wallet) -> dict[str, str]:
    """`{customerId, balance}`; balance is a string with two places."""
    return {"customerId": wallet.customerId, "balance": money_text(wallet.balance)}


def inventory_view(item: CatalogItem) -> dict[str, Any]:
    """`{sku, unitPrice, available}`; unitPrice is a string with two places."""
    return {"sku": item.sku, "unitPrice": money_text(item.unitPrice), "available": item.available}


def order_view(
    order_id: str,
    instance: InstanceSnapshot,
    order_record: OrderRecord | None,
    payment_record: PaymentRecord | None,
) -> dict[str, Any]:
    """`{orderId, runtimeStatus, outcome?, stage, customerId, amount, steps, createdTime,
    lastUpdatedTime, ..., ledgers}`.

    The saga's own account comes from its output once it completed, else from its custom status.
    `stage` is the custom status's stage (null before the saga first reports); `attention` says
    why a saga in stage needs_attention waits for an operator; `operatorRetries` and
    `resolution` come from a completed saga's output. `ledgers` adds what the order and payment
    ledgers record for the order, so a user sees the effects, not only the saga's belief about
    them. `amount` is a string with two places, or null when the instance carries no saga input.
    """
    view = order_summary(order_id, instance)
    result = instance.result()
    progress = instance.progress()
    if progress is not None and progress.attention is not None:
        view["attention"] = progress.attention.model_dump(mode="json")
    if result is not None:
        view["operatorRetries"] = result.operatorRetries
        if result.resolution is not None:
            view["resolution"] = result.resolution.model_dump(mode="json")
    if instance.runtime_status in _ENDED_BADLY and isinstance(instance.output, str):
        view["error"] = instance.output  # the reason the host recorded
    view["ledgers"] = {"order": _record(order_record), "payment": _record(payment_record)}
    return view


def order_summary(order_id: str, instance: InstanceSnapshot) -> dict[str, Any]:
    """What an order's saga says of itself, without the ledgers: `{orderId, runtimeStatus,
    outcome, stage, customerId, amount, steps, createdTime, lastUpdatedTime}` (outcome null
    until the saga reports one, and for a saga that was terminated or failed)."""
    saga_input = instance.saga_input()
    result = instance.result()
    progress = instance.progress()
    view: dict[str, Any] = {"orderId": order_id, "runtimeStatus": instance.runtime_status}
    steps = SagaSteps()
    amount = saga_input.order.amount if saga_input else None
    outcome: str | None = None
    if result is not None:
        outcome = result.outcome.value
        steps = result.steps
        amount = result.amount
    elif progress is not None:
        steps = SagaSteps.model_validate(progress.steps)
        # A saga stopped from outside (terminated) or broken (failed) never decided.
        if instance.runtime_status not in _ENDED_BADLY:
            outcome = progress.outcome.value
    view["outcome"] = outcome
    view["stage"] = progress.stage if progress is not None else None
    view["customerId"] = saga_input.order.customerId if saga_input is not None else None
    view["amount"] = None if amount is None else money_text(amount)
    view["steps"] = steps.model_dump(mode="json")
    view["createdTime"] = _timestamp(instance.created_time)
    view["lastUpdatedTime"] = _timestamp(instance.last_updated_time)
    return view


def _record(record: OrderRecord | PaymentRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "status": record.status.value,
        "amount": money_text(record.amount),
        "reason": record.reason,
    }


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
