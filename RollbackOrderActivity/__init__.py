"""Compensation: release the order's stock, or fence the order if nothing was reserved."""

from typing import Any

from saga.models import PricedOrder
from saga.storage import ledgers


def main(order: Any) -> dict[str, Any]:
    priced = PricedOrder.model_validate(order)
    books = ledgers()
    outcome = books.faults.around(
        "RollbackOrderActivity", lambda: books.inventory.release_stock(priced), priced.orderId
    )
    return outcome.model_dump(mode="json")
