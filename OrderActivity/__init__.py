"""Forward step: reserve the order's stock (a business refusal is an outcome, not an error)."""

from typing import Any

from durable_saga import saga_activity
from saga.models import PricedOrder
from saga.storage import ledgers


@saga_activity
def main(order: Any) -> dict[str, Any]:
    priced = PricedOrder.model_validate(order)
    books = ledgers()
    outcome = books.faults.around(
        "OrderActivity", lambda: books.inventory.reserve_stock(priced), priced.orderId
    )
    return outcome.model_dump(mode="json")
