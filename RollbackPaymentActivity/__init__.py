"""Compensation: refund the order's payment, or fence the order if nothing was charged."""

from typing import Any

from durable_saga import saga_activity
from saga.models import PricedOrder
from saga.storage import ledgers


@saga_activity
def main(order: Any) -> dict[str, Any]:
    priced = PricedOrder.model_validate(order)
    books = ledgers()
    outcome = books.faults.around(
        "RollbackPaymentActivity", lambda: books.wallets.refund_payment(priced), priced.orderId
    )
    return outcome.model_dump(mode="json")
