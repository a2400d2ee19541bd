"""The order ledger: the catalog with its stock, and one reservation record per order.

Stock and reservation records share one table partition, so that a reservation of any number of
SKUs, together with the record that makes it idempotent, is a single entity-group transaction.
The trade-off is throughput: one partition serves a bounded rate of writes (a few thousand
entities per second on Azure Storage), and every reservation in the app goes through it. Sharding
stock by SKU would raise that ceiling but lose the all-or-nothing reservation of a multi-SKU order.

A reservation creates its record in the same transaction as its effect, which is what lets its
first attempt skip reading the record (see saga.optimistic).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any

from azure.data.tables import TableClient

from durable_saga.documents import Identifier, StepOutcome
from saga.models import (
    Model,
    Money,
    OrderRequest,
    PricedLine,
    PricedOrder,
)
from saga.optimistic import retry_on_conflict
from saga.rows import LedgerTable, Row, Write, create, guarded_update

PARTITION = "stock"
# How old a catalog row may be to price an order from it: a price change reaches new orders within
# this many seconds, and most orders are priced without a storage request.
PRICE_MAX_AGE_SECONDS = 5.0


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    REJECTED = "rejected"  # business failure; also refuses any later attempt for this order
    RELEASED = "released"  # rolled back after it took effect
    FENCED = "fenced"  # rolled back before it took effect; a late reservation is refused


class CatalogItem(Model):
    sku: Identifier
    unitPrice: Money
    available: int


class OrderRecord(Model):
    """What the ledger remembers about one order's reservation."""

    orderId: Identifier
    customerId: Identifier
    status: ReservationStatus
    lines: list[PricedLine]
    amount: Money
    reason: str | None = None


class UnknownSkus(LookupError):
    """The order names SKUs the catalog does not have, so it cannot be priced."""

    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"not in the catalog: {', '.join(skus)}")
        self.skus = skus


def _sku_key(sku: str) -> str:
    return f"sku|{sku}"


def _order_key(order_id: str) -> str:
    return f"order|{order_id}"


class Inventory:
    """Reads the catalog and reserves or releases stock, each step idempotent per order."""

    def __init__(self, table: TableClient) -> None:
        self._table = LedgerTable(table)

    def stock_item(self, sku: str, unit_price: Decimal, available: int) -> bool:
        """Add `sku` to the catalog unless it is there already; True when it was added."""
        item = CatalogItem(sku=sku, unitPrice=unit_price, available=available)
        return self._table.create_if_absent(
            {
                "PartitionKey": PARTITION,
                "RowKey": _sku_key(item.sku),
                "UnitPrice": str(item.unitPrice),
                "Available": item.available,
            },
        )

    def item(self, sku: str) -> CatalogItem | None:
        """The catalog row as storage has it now."""
        row = self._table.read_fresh(PARTITION, _sku_key(sku))
        return None if row is None else _catalog_item(sku, row)

    def price(self, request: OrderRequest, order_id: str) -> PricedOrder:
        """The order at today's catalog prices; raises UnknownSkus naming every missing SKU."""
        prices: dict[str, Decimal] = {}
        missing: list[str] = []
        for line in request.items:
            row = self._table.read(PARTITION, _sku_key(line.sku), PRICE_MAX_AGE_SECONDS)
            if row is None:
                missing.append(line.sku)
            else:
                prices[line.sku] = _catalog_item(line.sku, row).unitPrice
        if missing:
            raise UnknownSkus(missing)
        lines = [
            PricedLine(sku=line.sku, quantity=line.quantity, unitPrice=prices[line.sku])
            for line in request.items
        ]
        amount = sum((line.unitPrice * line.quantity for line in lines), Decimal("0.00"))
        return PricedOrder(
            orderId=order_id, customerId=request.customerId, lines=lines, amount=amount
        )

    def order_record(self, order_id: str) -> OrderRecord | None:
        """The order's record as storage has it now."""
        row = self._table.read_fresh(PARTITION, _order_key(order_id))
        return None if row is None else _order_record(row)

    def reserve_stock(self, order: PricedOrder) -> StepOutcome:
        """Take the order's quantities out of stock, once; a business failure is an outcome."""
        return retry_on_conflict(
            f"reserving stock for order {order.orderId}",
            lambda: self._reserve_unless_recorded(order),
            first=lambda: self._reserve(order),
        )

    def release_stock(self, order: PricedOrder) -> StepOutcome:
        """Put back what the order reserved, once; with nothing reserved, fence the order."""
        return retry_on_conflict(
            f"releasing stock of order {order.orderId}", lambda: self._release(order)
        )

    def _reserve_unless_recorded(self, order: PricedOrder) -> StepOutcome:
        existing = self.order_record(order.orderId)  # after a conflict: from storage
        if existing is not None:
            return _repeated_reservation(existing)
        return self._reserve(order)

    def _reserve(self, order: PricedOrder) -> StepOutcome:
        """Decide from the stock alone, as if the order had no record: if it has one, creating
        the record fails the commit with 409, and the retry reads it."""
        wanted = _quantities(order.lines)
        keys = [(PARTITION, _sku_key(sku)) for sku in wanted]
        with self._table.exclusive(keys):
            rows = self._table.read_to_decide(keys, lambda stock: bool(_shortages(stock, wanted)))
            problems = _shortages(rows, wanted)
            if problems:
                reason = f"stock for order {order.orderId} cannot be reserved: " + "; ".join(
                    problems
                )
                self._table.create(_record_row(order, ReservationStatus.REJECTED, reason))
                return StepOutcome(ok=False, reason=reason)
            writes = [create(_record_row(order, ReservationStatus.RESERVED, None))]
            for quantity, row in zip(wanted.values(), rows, strict=True):
                assert row is not None  # _shortages found every row
                writes.append(guarded_update(row, {"Available": row["Available"] - quantity}))
            self._table.commit(writes)
        return StepOutcome(ok=True)

    def _release(self, order: PricedOrder) -> StepOutcome:
        row = self._table.read(PARTITION, _order_key(order.orderId))
        if row is None:
            reason = f"order {order.orderId} was rolled back before any stock was reserved"
            self._table.create(_record_row(order, ReservationStatus.FENCED, reason))
            return StepOutcome(
                ok=True, reason=f"nothing to release; {reason}, so a late reservation is refused"
            )
        record = _order_record(row)
        if record.status is not ReservationStatus.RESERVED:
            # Rejected, released and fenced are final: a remembered record is as good as a read.
            return StepOutcome(
                ok=True, reason=f"nothing to release: the reservation is {record.status}"
            )
        # Restore exactly what the record says was taken, whatever the caller passed in.
        wanted = _quantities(record.lines)
        with self._table.exclusive([(PARTITION, _sku_key(sku)) for sku in wanted]):
            writes: list[Write] = []
            for sku, quantity in wanted.items():
                stock = self._table.read(PARTITION, _sku_key(sku))
                if stock is None:
                    raise LookupError(
                        f"cannot release order {order.orderId}: {sku} is no longer in the catalog"
                    )
                writes.append(guarded_update(stock, {"Available": stock["Available"] + quantity}))
            writes.append(guarded_update(row, {"Status": ReservationStatus.RELEASED.value}))
            self._table.commit(writes)
        return StepOutcome(ok=True)


def _shortages(rows: Sequence[Row | None], wanted: Counter[str]) -> list[str]:
    """Why these stock rows (one per SKU, in the order of `wanted`) cannot give the quantities
    wanted (nothing when they can)."""
    problems: list[str] = []
    for (sku, quantity), row in zip(wanted.items(), rows, strict=True):
        if row is None:
            problems.append(f"{sku} is not in the catalog")
        elif row["Available"] < quantity:
            problems.append(f"{sku}: {quantity} requested, only {row['Available']} available")
    return problems


def _quantities(lines: list[PricedLine]) -> Counter[str]:
    """Quantity per SKU (a batch may touch each row only once, so repeated SKUs are merged)."""
    wanted: Counter[str] = Counter()
    for line in lines:
        wanted[line.sku] += line.quantity
    return wanted


def _repeated_reservation(record: OrderRecord) -> StepOutcome:
    """The answer a reservation gives when this order was already decided."""
    if record.status is ReservationStatus.RESERVED:
        return StepOutcome(ok=True)
    if record.status is ReservationStatus.REJECTED:
        return StepOutcome(ok=False, reason=record.reason)
    return StepOutcome(
        ok=False,
        reason=f"order {record.orderId} was already rolled back ({record.status}); "
        "its stock reservation is refused",
    )


def _record_row(
    order: PricedOrder, status: ReservationStatus, reason: str | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "PartitionKey": PARTITION,
        "RowKey": _order_key(order.orderId),
        "Status": status.value,
        "CustomerId": order.customerId,
        "Lines": json.dumps([line.model_dump(mode="json") for line in order.lines]),
        "Amount": str(order.amount),
    }
    if reason is not None:
        row["Reason"] = reason
    return row


def _order_record(row: Row) -> OrderRecord:
    return OrderRecord(
        orderId=row["RowKey"].removeprefix("order|"),
        customerId=row["CustomerId"],
        status=ReservationStatus(row["Status"]),
        lines=[PricedLine.model_validate(line) for line in json.loads(row["Lines"])],
        amount=Decimal(row["Amount"]),
        reason=row.get("Reason"),
    )


def _catalog_item(sku: str, row: Row) -> CatalogItem:
    return CatalogItem(sku=sku, unitPrice=Decimal(row["UnitPrice"]), available=row["Available"])
