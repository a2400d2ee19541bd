"""Ledgers on the session's Azurite, in tables of their own for each test."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from saga.inventory import Inventory
from saga.models import PricedLine, PricedOrder
from saga.settings import Settings
from saga.storage import Ledgers, open_ledgers
from saga.wallet import Wallets

OrderFactory = Callable[..., PricedOrder]


@pytest.fixture
def ledger_settings(storage_connection_string: str, unique_name: str) -> Settings:
    return Settings(
        storage_connection=storage_connection_string, table_prefix=unique_name, demo_data=True
    )


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
