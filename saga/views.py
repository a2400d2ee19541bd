"""Read models for the order's own GET endpoints and for what an order's view adds to the saga's:
what a user sees of a customer, a SKU, and the ledgers' records of an order.

Money is always a JSON string with exactly two places ("1000.00"), never a number, so that no
client parses it into a float. Views are plain JSON-ready dicts; nothing here does I/O.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from saga.inventory import CatalogItem, OrderRecord
from saga.models import CENT
from saga.wallet import PaymentRecord, Wallet


def money_text(amount: Decimal) -> str:
    """Money as a JSON string with two places: Decimal("1000") -> "1000.00"."""
    return f"{amount.quantize(CENT):f}"


def customer_view(wallet: Wallet) -> dict[str, str]:
    """`{customerId, balance}`; balance is a string with two places."""
    return {"customerId": wallet.customerId, "balance": money_text(wallet.balance)}


def inventory_view(item: CatalogItem) -> dict[str, Any]:
    """`{sku, unitPrice, available}`; unitPrice is a string with two places."""
    return {"sku": item.sku, "unitPrice": money_text(item.unitPrice), "available": item.available}


def ledgers_view(
    order_record: OrderRecord | None, payment_record: PaymentRecord | None
) -> dict[str, Any]:
    """`{"ledgers": {"order": record, "payment": record}}`, what the order and payment ledgers
    record for an order (a record `{status, amount, reason}`, or null when there is none)."""
    return {"ledgers": {"order": _record(order_record), "payment": _record(payment_record)}}


def _record(record: OrderRecord | PaymentRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "status": record.status.value,
        "amount": money_text(record.amount),
        "reason": record.reason,
    }
