"""The payment ledger: one wallet per customer, and one payment record per order.

A customer's wallet and their payment records share a table partition (the customer id), so that a
charge or a refund and the record that makes it idempotent are one entity-group transaction.
Customers never contend with each other; one customer's charges are serialized by the wallet's
ETag. Creating the record in the charge's transaction is also what lets a charge's first attempt
skip reading it (see saga.optimistic).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from azure.data.tables import TableClient

from durable_saga.documents import Identifier, StepOutcome
from saga.models import Model, Money, PricedOrder
from saga.optimistic import retry_on_conflict
from saga.rows import LedgerTable, Row, create, guarded_update

WALLET_ROW = "wallet"


class PaymentStatus(StrEnum):
    CHARGED = "charged"
    REJECTED = "rejected"  # business failure; also refuses any later attempt for this order
    REFUNDED = "refunded"  # rolled back after it took effect
    FENCED = "fenced"  # rolled back before it took effect; a late charge is refused


class Wallet(Model):
    customerId: Identifier
    balance: Money


class PaymentRecord(Model):
    """What the ledger remembers about one order's payment."""

    orderId: Identifier
    customerId: Identifier
    status: PaymentStatus
    amount: Money
    reason: str | None = None


def _payment_key(order_id: str) -> str:
    return f"payment|{order_id}"


class Wallets:
    """Charges and refunds customers' wallets, each step idempotent per order."""

    def __init__(self, table: TableClient) -> None:
        self._table = LedgerTable(table)

    def open_wallet(self, customer_id: str, balance: Decimal) -> bool:
        """Give the customer a wallet unless they have one already; True when it was created."""
        wallet = Wallet(customerId=customer_id, balance=balance)
        return self._table.create_if_absent(
            {
                "PartitionKey": wallet.customerId,
                "RowKey": WALLET_ROW,
                "Balance": str(wallet.balance),
            },
        )

    def wallet(self, customer_id: str) -> Wallet | None:
        """The wallet as storage has it now."""
        row = self._table.read_fresh(customer_id, WALLET_ROW)
        return None if row is None else Wallet(customerId=customer_id, balance=row["Balance"])

    def payment_record(self, customer_id: str, order_id: str) -> PaymentRecord | None:
        """The order's payment record as storage has it now."""
        row = self._table.read_fresh(customer_id, _payment_key(order_id))
        return None if row is None else _payment_record(row)

    def charge_wallet(self, order: PricedOrder) -> StepOutcome:
        """Take the order's amount from the customer's wallet, once; a business failure is an
        outcome."""
        if order.amount < 0:
            raise ValueError(f"order {order.orderId} has a negative amount {order.amount}")
        return retry_on_conflict(
            f"charging {order.customerId} for order {order.orderId}",
            lambda: self._charge_unless_recorded(order),
            first=lambda: self._charge(order),
        )

    def refund_payment(self, order: PricedOrder) -> StepOutcome:
        """Give back what the order was charged, once; with nothing charged, fence the order."""
        return retry_on_conflict(
            f"refunding order {order.orderId} to {order.customerId}", lambda: self._refund(order)
        )

    def _charge_unless_recorded(self, order: PricedOrder) -> StepOutcome:
        existing = self.payment_record(order.customerId, order.orderId)  # after a conflict
        if existing is not None:
            return _repeated_charge(existing)
        return self._charge(order)

    def _charge(self, order: PricedOrder) -> StepOutcome:
        """Decide from the wallet alone, as if the order had no record: if it has one, creating
        the record fails the commit with 409, and the retry reads it."""
        key = (order.customerId, WALLET_ROW)
        with self._table.exclusive([key]):
            [wallet] = self._table.read_to_decide([key], lambda rows: _short_of(rows[0], order))
            if wallet is None:
                return self._reject(order, f"customer {order.customerId} has no wallet")
            balance = Decimal(wallet["Balance"])
            if balance < order.amount:
                return self._reject(
                    order,
                    f"customer {order.customerId} has {balance}, order {order.orderId} needs "
                    f"{order.amount}",
                )
            self._table.commit(
                [
                    create(_record_row(order, PaymentStatus.CHARGED, None)),
                    guarded_update(wallet, {"Balance": str(balance - order.amount)}),
                ]
            )
        return StepOutcome(ok=True)

    def _reject(self, order: PricedOrder, problem: str) -> StepOutcome:
        """Record the refusal, so that a retry or a duplicate gets the same answer."""
        reason = f"payment for order {order.orderId} refused: {problem}"
        self._table.create(_record_row(order, PaymentStatus.REJECTED, reason))
        return StepOutcome(ok=False, reason=reason)

    def _refund(self, order: PricedOrder) -> StepOutcome:
        row = self._table.read(order.customerId, _payment_key(order.orderId))
        if row is None:
            reason = f"order {order.orderId} was rolled back before any payment was taken"
            self._table.create(_record_row(order, PaymentStatus.FENCED, reason))
            return StepOutcome(
                ok=True, reason=f"nothing to refund; {reason}, so a late charge is refused"
            )
        record = _payment_record(row)
        if record.status is not PaymentStatus.CHARGED:
            # Rejected, refunded and fenced are final: a remembered record is as good as a read.
            return StepOutcome(ok=True, reason=f"nothing to refund: the payment is {record.status}")
        with self._table.exclusive([(order.customerId, WALLET_ROW)]):
            wallet = self._table.read(order.customerId, WALLET_ROW)
            if wallet is None:
                raise LookupError(
                    f"cannot refund order {order.orderId}: customer {order.customerId} has no "
                    "wallet"
                )
            # Refund exactly what the record says was charged, whatever the caller passed in.
            balance = Decimal(wallet["Balance"]) + record.amount
            self._table.commit(
                [
                    guarded_update(wallet, {"Balance": str(balance)}),
                    guarded_update(row, {"Status": PaymentStatus.REFUNDED.value}),
                ]
            )
        return StepOutcome(ok=True)


def _short_of(wallet: Row | None, order: PricedOrder) -> bool:
    """Whether this wallet would refuse the order's charge for want of money."""
    return wallet is not None and Decimal(wallet["Balance"]) < order.amount


def _repeated_charge(record: PaymentRecord) -> StepOutcome:
    """The answer a charge gives when this order's payment was already decided."""
    if record.status is PaymentStatus.CHARGED:
        return StepOutcome(ok=True)
    if record.status is PaymentStatus.REJECTED:
        return StepOutcome(ok=False, reason=record.reason)
    return StepOutcome(
        ok=False,
        reason=f"order {record.orderId} was already rolled back ({record.status}); "
        "its charge is refused",
    )


def _record_row(order: PricedOrder, status: PaymentStatus, reason: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "PartitionKey": order.customerId,
        "RowKey": _payment_key(order.orderId),
        "Status": status.value,
        "Amount": str(order.amount),
    }
    if reason is not None:
        row["Reason"] = reason
    return row


def _payment_record(row: Row) -> PaymentRecord:
    return PaymentRecord(
        orderId=row["RowKey"].removeprefix("payment|"),
        customerId=row["PartitionKey"],
        status=PaymentStatus(row["Status"]),
        amount=Decimal(row["Amount"]),
        reason=row.get("Reason"),
    )
