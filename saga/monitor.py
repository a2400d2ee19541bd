"""The order saga as its API and monitor show it: under /api/orders, an order's id is its
`orderId`, the list shows the customer and the amount, and an order's view adds what the order
and payment ledgers recorded for it (read from Azure Table storage, off the event loop)."""

from __future__ import annotations

import asyncio
from typing import Any

from azure.core.exceptions import AzureError

from durable_saga.views import Column, DetailsPanel, SagaMonitor
from saga.models import SagaInput
from saga.storage import StorageUnavailable, ledgers
from saga.views import ledgers_view
from saga.workflow import ORDER_SAGA


async def ledger_records(order_id: str, saga_input: SagaInput | None) -> dict[str, Any]:
    """`{"ledgers": ...}`: the order's records in the inventory and wallet ledgers (none when
    the saga has no valid input, so no customer to look under)."""
    if saga_input is None:
        return ledgers_view(None, None)
    customer_id = saga_input.order.customerId
    try:
        # Table storage calls block; keep them off the event loop the Durable client runs on.
        order_record, payment_record = await asyncio.to_thread(
            lambda: (
                ledgers().inventory.order_record(order_id),
                ledgers().wallets.payment_record(customer_id, order_id),
            )
        )
    except AzureError as error:
        raise StorageUnavailable(error) from error
    return ledgers_view(order_record, payment_record)


RECORD_COLUMNS = (
    Column("status", "Status", "badge"),
    Column("amount", "Amount", "number"),
    Column("reason", "Reason"),
)

ORDER_MONITOR = SagaMonitor(
    ORDER_SAGA,
    collection="orders",
    id_field="orderId",
    noun="order",
    columns=(Column("customerId", "Customer"), Column("amount", "Amount", "number")),
    details=ledger_records,
    panel=DetailsPanel(
        field="ledgers",
        title="What the ledgers recorded",
        row_header="Ledger",
        rows=(("order", "Stock (order)"), ("payment", "Wallet (payment)")),
        columns=RECORD_COLUMNS,
    ),
    example_id="order-1002",
    kept_on_terminate="what it already reserved or charged",
)
