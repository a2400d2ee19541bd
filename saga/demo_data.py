"""Demo customers and catalog, so that a fresh local app can take orders right away.

Seeding only ever creates rows that are missing: restarting the app keeps balances and stock as the
sagas left them.
"""

from __future__ import annotations

from decimal import Decimal

from saga.inventory import Inventory
from saga.wallet import Wallets

DEMO_WALLETS = {
    "alice": Decimal("1000.00"),
    "bob": Decimal("10.00"),
}

# sku -> (unit price, stock)
DEMO_CATALOG = {
    "SKU-RED": (Decimal("9.99"), 1000),
    "SKU-BLUE": (Decimal("5.00"), 1000),
    "SKU-RARE": (Decimal("100.00"), 1),
}


def seed_demo_data(inventory: Inventory, wallets: Wallets) -> None:
    """Create the demo wallets and catalog items that do not exist yet."""
    for sku, (unit_price, stock) in DEMO_CATALOG.items():
        inventory.stock_item(sku, unit_price, stock)
    for customer_id, balance in DEMO_WALLETS.items():
        wallets.open_wallet(customer_id, balance)
