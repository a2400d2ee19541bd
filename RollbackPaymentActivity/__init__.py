"""Compensation: refund the order's payment, or fence the order if nothing was charged."""

from typing import Any

from saga.models import PricedOrder
from saga.storage import ledgers


def main(order: Any) -> dict[str, Any]:
    priced = PricedOrder.model_validate(order)
    books = ledgers()
    outcome = books.faults.around(
        "RollbackPaymentActivity", lambda: books.wallets.refund_payment(priced), priced.orderId
    )
    return outcome.model_dump(mode="json")
