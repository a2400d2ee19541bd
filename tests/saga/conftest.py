"""Ledgers on the session's Azurite, in tables of their own for each test."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from azure.core.pipeline import PipelineResponse
from azure.data.tables import TableClient

from saga.inventory import Inventory
from saga.models import PricedLine, PricedOrder
from saga.settings import Settings
from saga.storage import INVENTORY_TABLE, WALLETS_TABLE, Ledgers, open_ledgers
from saga.wallet import Wallets

OrderFactory = Callable[..., PricedOrder]


@pytest.fixture
def ledger_settings(storage_connection_string: str, unique_name: str) -> Settings:
    return Settings(storage=storage_connection_string, table_prefix=unique_name, demo_data=True)


@pytest.fixture
def opened_ledgers(ledger_settings: Settings) -> Ledgers:
    return open_ledgers(ledger_settings)


@pytest.fixture
def inventory(opened_ledgers: Ledgers) -> Inventory:
    return opened_ledgers.inventory


@pytest.fixture
def wallets(opened_ledgers: Ledgers) -> Wallets:
    return opened_ledgers.wallets


@pytest.fixture
def make_order() -> OrderFactory:
    """`make_order("o1", "alice", ("SKU-RED", 2, "9.99"), ...)`: a priced order, amount summed."""

    def build(order_id: str, customer_id: str, *lines: tuple[str, int, str]) -> PricedOrder:
        priced = [
            PricedLine(sku=sku, quantity=quantity, unitPrice=Decimal(price))
            for sku, quantity, price in lines
        ]
        amount = sum((line.unitPrice * line.quantity for line in priced), Decimal("0.00"))
        return PricedOrder(orderId=order_id, customerId=customer_id, lines=priced, amount=amount)

    return build


class StorageRequests:
    """Every HTTP request a table client sent (SDK retries included), in order: 'GET <row key>'
    for a point read, 'POST $batch' for a transaction, 'POST <table>' for a single create."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, response: PipelineResponse[Any, Any]) -> None:
        request = response.http_request
        target = unquote(urlsplit(request.url).path).rsplit("/", 1)[-1]
        row = re.fullmatch(r".*\(PartitionKey='.*',RowKey='(.*)'\)", target)
        self.sent.append(f"{request.method} {row[1] if row else target}")


@pytest.fixture
def storage_requests() -> StorageRequests:
    return StorageRequests()


@pytest.fixture
def counted_ledgers(
    opened_ledgers: Ledgers,
    ledger_settings: Settings,
    storage_connection_string: str,
    storage_requests: StorageRequests,
) -> Ledgers:
    """The ledgers of `opened_ledgers`, through table clients that log to `storage_requests`."""

    def table(name: str) -> TableClient:
        return TableClient.from_connection_string(
            storage_connection_string,
            ledger_settings.table_prefix + name,
            raw_response_hook=storage_requests,
        )

    return Ledgers(
        inventory=Inventory(table(INVENTORY_TABLE)), wallets=Wallets(table(WALLETS_TABLE))
    )
