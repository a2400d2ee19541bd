"""Demo data: present as soon as the ledgers open, and never written over."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from saga.inventory import CatalogItem
from saga.settings import Settings, SettingsError
from saga.storage import ledgers, open_ledgers
from saga.wallet import Wallet
from tests.saga.conftest import OrderFactory


def test_opening_the_ledgers_seeds_the_demo_catalog_and_wallets(
    ledger_settings: Settings,
) -> None:
    opened = open_ledgers(ledger_settings)

    assert opened.wallets.wallet("alice") == Wallet(customerId="alice", balance=Decimal("1000.00"))
    assert opened.wallets.wallet("bob") == Wallet(customerId="bob", balance=Decimal("10.00"))
    assert [opened.inventory.item(sku) for sku in ("SKU-RED", "SKU-BLUE", "SKU-RARE")] == [
        CatalogItem(sku="SKU-RED", unitPrice=Decimal("9.99"), available=1000),
        CatalogItem(sku="SKU-BLUE", unitPrice=Decimal("5.00"), available=1000),
        CatalogItem(sku="SKU-RARE", unitPrice=Decimal("100.00"), available=1),
    ]


def test_seeding_again_keeps_what_sagas_changed(
    ledger_settings: Settings, make_order: OrderFactory
) -> None:
    first = open_ledgers(ledger_settings)
    order = make_order("d1", "alice", ("SKU-RARE", 1, "100.00"))
    assert first.wallets.charge_wallet(order).ok
    assert first.inventory.reserve_stock(order).ok

    again = open_ledgers(ledger_settings)

    assert again.wallets.wallet("alice") == Wallet(customerId="alice", balance=Decimal("900.00"))
    item = again.inventory.item("SKU-RARE")
    assert item is not None
    assert item.available == 0


def test_without_demo_data_the_ledgers_start_empty(ledger_settings: Settings) -> None:
    opened = open_ledgers(replace(ledger_settings, demo_data=False))

    assert opened.wallets.wallet("alice") is None
    assert opened.inventory.item("SKU-RED") is None


def test_the_process_wide_ledgers_open_once_from_the_environment(
    storage_connection_string: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection_string)
    monkeypatch.setenv("SAGA_TABLE_PREFIX", unique_name)
    monkeypatch.setenv("SAGA_DEMO_DATA", "true")
    ledgers.cache_clear()
    try:
        first = ledgers()

        assert ledgers() is first
        assert first.wallets.wallet("bob") == Wallet(customerId="bob", balance=Decimal("10.00"))
        ledgers.cache_clear()
        assert ledgers() is not first
    finally:
        ledgers.cache_clear()


def test_the_process_wide_ledgers_refuse_bad_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    ledgers.cache_clear()

    with pytest.raises(SettingsError, match="AzureWebJobsStorage"):
        ledgers()
