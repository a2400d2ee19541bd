"""Compensation: release the order's stock, or fence the order if nothing was reserved."""

from typing import Any

from durable_saga import saga_activity
from saga.models import PricedOrder
from saga.storage import ledgers


@saga_activity
def main(order: Any) -> dict[str, Any]:
    priced = PricedOrder.model_validate(order)
    books = ledgers()
    outcome = books.faults.around(
        "RollbackOrderActivity", lambda: books.inventory.release_stock(priced), priced.orderId
    )
    return outcome.model_dump(mode="json")
