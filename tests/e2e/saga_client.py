"""What a user of the running app does: start orders, read them back, read wallets and stock.

Also what a test needs to set up isolated data: customers and SKUs of its own, written through the
app's ledgers into the same tables the running app uses.
"""

from __future__ import annotations

import urllib.parse
import uuid
from decimal import Decimal
from typing import Any

from saga.settings import Settings
from saga.storage import Ledgers, open_ledgers
from tests.http_client import Reply, call, post_json, wait_for

from .app_process import AppConfig, RunningApp

# Durable runtime statuses after which an instance does no more work.
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def order_body(order_id: str | None, customer_id: str, *lines: tuple[str, int]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customerId": customer_id,
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
    }
    if order_id is not None:
        body["orderId"] = order_id
    return body


class SagaApp:
    """The app running at `running.base_url`, and its ledgers opened from the test process."""

    def __init__(self, running: RunningApp, config: AppConfig) -> None:
        self.running = running
        self.config = config
        self.ledgers: Ledgers = open_ledgers(
            Settings(storage=config.storage, table_prefix=config.table_prefix)
        )

    def url(self, path: str) -> str:
        return self.running.url(path)

    def builtin(self, order_id: str, action: str = "", query: str = "") -> str:
        """The built-in Durable endpoint for the order's instance (an operator's tool: on Azure it
        takes the system key, which the order API never hands out)."""
        instance = urllib.parse.quote(order_id, safe="")
        path = f"/runtime/webhooks/durabletask/instances/{instance}" + (
            f"/{action}" if action else ""
        )
        hub = f"taskHub={self.config.hub_name}&connection=Storage"
        return f"{self.running.base_url}{path}?{hub}" + (f"&{query}" if query else "")

    def start(self, body: dict[str, Any]) -> Reply:
        return post_json(self.url("orders"), body)

    def get_order(self, order_id: str) -> Reply:
        return call("GET", self.url(f"orders/{order_id}"))

    def list_orders(self, **params: str) -> Reply:
        """One page of `GET /api/orders` with these query parameters."""
        return call("GET", self.url("orders") + "?" + urllib.parse.urlencode(params))

    def every_page(self, **params: str) -> list[dict[str, Any]]:
        """Every page of `GET /api/orders`, following continuationToken until it is null, as a
        client must."""
        pages: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            reply = self.list_orders(**params, **({"continuationToken": token} if token else {}))
            assert reply.status == 200, str(reply)
            page: dict[str, Any] = reply.json()
            pages.append(page)
            token = page["continuationToken"]
            if token is None:
                return pages
            assert len(pages) < 50, "the list never ended"

    def balance(self, customer_id: str) -> Decimal:
        reply = call("GET", self.url(f"customers/{customer_id}"))
        assert reply.status == 200, str(reply)
        return Decimal(reply.json()["balance"])

    def available(self, sku: str) -> int:
        reply = call("GET", self.url(f"inventory/{sku}"))
        assert reply.status == 200, str(reply)
        available = reply.json()["available"]
        assert isinstance(available, int), str(reply)
        return available

    def new_customer(self, balance: str) -> str:
        customer_id = new_id("customer")
        assert self.ledgers.wallets.open_wallet(customer_id, Decimal(balance))
        return customer_id

    def new_sku(self, unit_price: str, stock: int) -> str:
        sku = new_id("SKU")
        assert self.ledgers.inventory.stock_item(sku, Decimal(unit_price), stock)
        return sku

    def wait_until_settled(self, order_id: str, timeout: float = 60) -> dict[str, Any]:
        """GET /api/orders/{id} until the saga's instance is in a terminal runtime status."""
        last: list[Reply] = []

        def settled() -> dict[str, Any] | None:
            reply = self.get_order(order_id)
            last[:] = [reply]
            assert reply.status == 200, str(reply)
            view: dict[str, Any] = reply.json()
            return view if view["runtimeStatus"] in TERMINAL_STATUSES else None

        return wait_for(
            f"order {order_id} to settle",
            settled,
            timeout,
            describe=lambda: f"{last[0] if last else 'no reply'}\n{self.running.output()}",
        )
