"""The order ledger on a real Azurite: pricing, idempotent reservations, fences, concurrency."""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal

import pytest

from durable_saga.documents import StepOutcome
from saga.inventory import CatalogItem, Inventory, ReservationStatus, UnknownSkus
from saga.models import OrderLine, OrderRequest, PricedOrder
from saga.settings import Settings
from saga.storage import INVENTORY_TABLE, Ledgers, open_ledgers
from tests.saga.concurrency import all_at_once
from tests.saga.conftest import OrderFactory, StorageRequests


def available(inventory: Inventory, sku: str) -> int:
    item = inventory.item(sku)
    assert item is not None, f"{sku} missing from the catalog"
    return item.available


def test_catalog_items_read_back(inventory: Inventory) -> None:
    assert inventory.item("SKU-RED") == CatalogItem(
        sku="SKU-RED", unitPrice=Decimal("9.99"), available=1000
    )
    assert inventory.item("SKU-NOPE") is None


@pytest.mark.parametrize("sku", ["SKU-RED#1", "SKU-RED?x", "SKU-RED/1", "SKU-RED\\1", "SKU\x07"])
def test_a_sku_that_cannot_be_a_key_is_simply_not_in_the_catalog(
    inventory: Inventory, sku: str
) -> None:
    assert inventory.item(sku) is None


def test_price_uses_catalog_prices(inventory: Inventory) -> None:
    request = OrderRequest(
        customerId="alice",
        items=[OrderLine(sku="SKU-RED", quantity=3), OrderLine(sku="SKU-BLUE", quantity=1)],
    )

    order = inventory.price(request, "o-price")

    assert order.orderId == "o-price"
    assert order.customerId == "alice"
    assert [(line.sku, line.quantity, line.unitPrice) for line in order.lines] == [
        ("SKU-RED", 3, Decimal("9.99")),
        ("SKU-BLUE", 1, Decimal("5.00")),
    ]
    assert order.amount == Decimal("34.97")


def test_price_names_every_unknown_sku(inventory: Inventory) -> None:
    request = OrderRequest(
        customerId="alice",
        items=[
            OrderLine(sku="SKU-GREEN", quantity=1),
            OrderLine(sku="SKU-RED", quantity=1),
            OrderLine(sku="SKU-PINK", quantity=2),
        ],
    )

    with pytest.raises(UnknownSkus) as caught:
        inventory.price(request, "o-unknown")

    assert caught.value.skus == ["SKU-GREEN", "SKU-PINK"]
    assert "SKU-GREEN" in str(caught.value)


def test_reserving_twice_takes_stock_once(inventory: Inventory, make_order: OrderFactory) -> None:
    order = make_order("o1", "alice", ("SKU-RED", 2, "9.99"), ("SKU-BLUE", 5, "5.00"))

    first = inventory.reserve_stock(order)
    second = inventory.reserve_stock(order)

    assert first == second == StepOutcome(ok=True)
    assert available(inventory, "SKU-RED") == 998
    assert available(inventory, "SKU-BLUE") == 995
    record = inventory.order_record("o1")
    assert record is not None
    assert record.status is ReservationStatus.RESERVED
    assert record.customerId == "alice"
    assert record.lines == order.lines
    assert record.amount == Decimal("44.98")


def test_a_short_line_rejects_the_whole_order_and_stays_rejected(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    order = make_order("o-short", "alice", ("SKU-RED", 1, "9.99"), ("SKU-RARE", 2, "100.00"))

    first = inventory.reserve_stock(order)
    again = inventory.reserve_stock(order)

    assert first.ok is False
    assert first.reason is not None
    assert "SKU-RARE: 2 requested, only 1 available" in first.reason
    assert again == first
    assert available(inventory, "SKU-RED") == 1000
    assert available(inventory, "SKU-RARE") == 1
    record = inventory.order_record("o-short")
    assert record is not None
    assert record.status is ReservationStatus.REJECTED


def test_a_rejection_is_stable_even_when_stock_arrives_later(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    inventory.stock_item("SKU-LATE", Decimal("1.00"), 1)
    earlier = make_order("o-earlier", "bob", ("SKU-LATE", 1, "1.00"))
    order = make_order("o-late", "alice", ("SKU-LATE", 1, "1.00"))
    assert inventory.reserve_stock(earlier).ok
    first = inventory.reserve_stock(order)
    inventory.release_stock(earlier)
    assert available(inventory, "SKU-LATE") == 1

    assert first.ok is False
    assert inventory.reserve_stock(order) == first
    assert available(inventory, "SKU-LATE") == 1


def test_an_unknown_sku_is_rejected_by_name(inventory: Inventory, make_order: OrderFactory) -> None:
    outcome = inventory.reserve_stock(make_order("o-ghost", "alice", ("SKU-GHOST", 1, "1.00")))

    assert outcome.ok is False
    assert outcome.reason is not None
    assert "SKU-GHOST is not in the catalog" in outcome.reason
    assert "o-ghost" in outcome.reason


def test_reserve_then_release_restores_exactly_once(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    order = make_order("o-undo", "alice", ("SKU-RED", 7, "9.99"), ("SKU-BLUE", 2, "5.00"))
    assert inventory.reserve_stock(order).ok

    released = [inventory.release_stock(order), inventory.release_stock(order)]

    assert all(outcome.ok for outcome in released)
    assert available(inventory, "SKU-RED") == 1000
    assert available(inventory, "SKU-BLUE") == 1000
    record = inventory.order_record("o-undo")
    assert record is not None
    assert record.status is ReservationStatus.RELEASED
    late = inventory.reserve_stock(order)
    assert late.ok is False
    assert late.reason is not None
    assert "rolled back" in late.reason
    assert available(inventory, "SKU-RED") == 1000


def test_release_before_reserve_fences_the_order(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    order = make_order("o-fence", "alice", ("SKU-RARE", 1, "100.00"))

    rollback = inventory.release_stock(order)
    late = inventory.reserve_stock(order)

    assert rollback.ok is True
    assert late.ok is False
    assert late.reason is not None
    assert "o-fence" in late.reason
    assert "rolled back" in late.reason
    assert available(inventory, "SKU-RARE") == 1
    record = inventory.order_record("o-fence")
    assert record is not None
    assert record.status is ReservationStatus.FENCED


def test_releasing_a_rejected_order_changes_nothing(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    order = make_order("o-rejected", "alice", ("SKU-RARE", 5, "100.00"))
    rejection = inventory.reserve_stock(order)

    assert inventory.release_stock(order).ok is True
    assert inventory.reserve_stock(order) == rejection
    assert available(inventory, "SKU-RARE") == 1


def test_release_restores_what_was_recorded_not_what_it_is_told(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    assert inventory.reserve_stock(make_order("o-rec", "alice", ("SKU-RED", 4, "9.99"))).ok

    inventory.release_stock(make_order("o-rec", "alice", ("SKU-RED", 40, "9.99")))

    assert available(inventory, "SKU-RED") == 1000


def test_twenty_buyers_of_the_last_item_get_exactly_one(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    orders = [make_order(f"rare-{n}", "alice", ("SKU-RARE", 1, "100.00")) for n in range(20)]

    outcomes = all_at_once([lambda order=order: inventory.reserve_stock(order) for order in orders])

    assert sum(outcome.ok for outcome in outcomes) == 1
    assert available(inventory, "SKU-RARE") == 0
    reserved = [
        order.orderId
        for order in orders
        if (record := inventory.order_record(order.orderId)) is not None
        and record.status is ReservationStatus.RESERVED
    ]
    assert len(reserved) == 1


def test_duplicate_deliveries_of_one_reservation_apply_once(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    order = make_order("o-dup", "alice", ("SKU-BLUE", 10, "5.00"))

    outcomes = all_at_once([lambda: inventory.reserve_stock(order)] * 10)

    assert all(outcome == StepOutcome(ok=True) for outcome in outcomes)
    assert available(inventory, "SKU-BLUE") == 990


def test_stock_is_conserved_under_concurrent_reservations_and_releases(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    catalog = {"SKU-A": 30, "SKU-B": 20, "SKU-C": 5}
    for sku, stock in catalog.items():
        inventory.stock_item(sku, Decimal("1.00"), stock)
    pick = random.Random(11)
    orders: list[PricedOrder] = []
    for n in range(24):
        skus = pick.sample(sorted(catalog), pick.randint(1, 3))
        lines = [(sku, pick.randint(1, 6), "1.00") for sku in skus]
        orders.append(make_order(f"mix-{n}", "alice", *lines))
    calls: list[Callable[[], StepOutcome]] = []
    for order in orders:
        calls.append(lambda order=order: inventory.reserve_stock(order))
        if pick.random() < 0.4:
            calls.append(lambda order=order: inventory.release_stock(order))
    pick.shuffle(calls)

    all_at_once(calls)

    taken = dict.fromkeys(catalog, 0)
    for order in orders:
        record = inventory.order_record(order.orderId)
        assert record is not None, f"{order.orderId} left no record"
        if record.status is ReservationStatus.RESERVED:
            for line in record.lines:
                taken[line.sku] += line.quantity
    for sku, stock in catalog.items():
        now = available(inventory, sku)
        assert now >= 0
        assert stock == now + taken[sku], f"{sku}: {stock} != {now} + {taken[sku]}"


def test_a_release_racing_its_reservation_always_leaves_nothing_in_effect(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    orders = [make_order(f"race-{n}", "alice", ("SKU-RED", n + 1, "9.99")) for n in range(12)]
    calls: list[Callable[[], StepOutcome]] = []
    for order in orders:
        calls += [
            lambda order=order: inventory.reserve_stock(order),
            lambda order=order: inventory.release_stock(order),
        ]

    outcomes = all_at_once(calls)

    assert all(release.ok for release in outcomes[1::2])
    assert available(inventory, "SKU-RED") == 1000
    for order in orders:
        record = inventory.order_record(order.orderId)
        assert record is not None
        assert record.status in {ReservationStatus.RELEASED, ReservationStatus.FENCED}


def test_a_fresh_reservation_reads_only_its_stock_row_then_commits_once(
    counted_ledgers: Ledgers, storage_requests: StorageRequests, make_order: OrderFactory
) -> None:
    order = make_order("o-lean", "alice", ("SKU-RED", 2, "9.99"))

    outcome = counted_ledgers.inventory.reserve_stock(order)

    assert outcome == StepOutcome(ok=True)
    assert storage_requests.sent == ["GET sku|SKU-RED", "POST $batch"]
    assert available(counted_ledgers.inventory, "SKU-RED") == 998


def test_a_fresh_rejection_reads_only_its_stock_row_then_records_once(
    counted_ledgers: Ledgers,
    storage_requests: StorageRequests,
    ledger_settings: Settings,
    make_order: OrderFactory,
) -> None:
    order = make_order("o-lean-short", "alice", ("SKU-RARE", 2, "100.00"))

    outcome = counted_ledgers.inventory.reserve_stock(order)

    assert outcome.ok is False
    assert storage_requests.sent == [
        "GET sku|SKU-RARE",
        f"POST {ledger_settings.table_prefix}{INVENTORY_TABLE}",
    ]
    record = counted_ledgers.inventory.order_record("o-lean-short")
    assert record is not None
    assert record.status is ReservationStatus.REJECTED


def test_a_repeated_reservation_reads_the_record_once_its_commit_is_refused(
    counted_ledgers: Ledgers, storage_requests: StorageRequests, make_order: OrderFactory
) -> None:
    order = make_order("o-again", "alice", ("SKU-RED", 2, "9.99"))
    assert counted_ledgers.inventory.reserve_stock(order).ok
    storage_requests.sent.clear()

    again = counted_ledgers.inventory.reserve_stock(order)

    # The stock row is known from the first commit; creating the record again fails the batch.
    assert again == StepOutcome(ok=True)
    assert storage_requests.sent == ["POST $batch", "GET order|o-again"]
    assert available(counted_ledgers.inventory, "SKU-RED") == 998


def test_the_next_reservation_of_a_sku_commits_without_reading_it(
    counted_ledgers: Ledgers, storage_requests: StorageRequests, make_order: OrderFactory
) -> None:
    assert counted_ledgers.inventory.reserve_stock(
        make_order("o-1", "alice", ("SKU-RED", 2, "9.99"))
    ).ok
    storage_requests.sent.clear()

    second = counted_ledgers.inventory.reserve_stock(
        make_order("o-2", "bob", ("SKU-RED", 3, "9.99"))
    )

    assert second == StepOutcome(ok=True)
    assert storage_requests.sent == ["POST $batch"]
    assert available(counted_ledgers.inventory, "SKU-RED") == 995


def test_a_row_changed_by_another_process_is_read_again_and_nothing_is_lost(
    opened_ledgers: Ledgers, ledger_settings: Settings, make_order: OrderFactory
) -> None:
    # Two instances of the app: each remembers the stock row as it last saw it.
    ours, theirs = opened_ledgers.inventory, open_ledgers(ledger_settings).inventory
    assert ours.reserve_stock(make_order("o-ours-1", "alice", ("SKU-RED", 5, "9.99"))).ok
    assert theirs.reserve_stock(make_order("o-theirs", "alice", ("SKU-RED", 7, "9.99"))).ok

    # Ours still remembers 995: its guarded commit fails, and it decides again from storage.
    assert ours.reserve_stock(make_order("o-ours-2", "alice", ("SKU-RED", 11, "9.99"))).ok

    assert available(ours, "SKU-RED") == 1000 - 5 - 7 - 11


def test_a_remembered_shortage_is_checked_in_storage_before_refusing(
    opened_ledgers: Ledgers, ledger_settings: Settings, make_order: OrderFactory
) -> None:
    ours, theirs = opened_ledgers.inventory, open_ledgers(ledger_settings).inventory
    assert ours.reserve_stock(make_order("o-last-rare", "alice", ("SKU-RARE", 1, "100.00"))).ok
    # Another instance rolls it back: the stock is there again, which ours has not seen.
    assert theirs.release_stock(make_order("o-last-rare", "alice", ("SKU-RARE", 1, "100.00"))).ok

    outcome = ours.reserve_stock(make_order("o-next-rare", "bob", ("SKU-RARE", 1, "100.00")))

    assert outcome == StepOutcome(ok=True)
    assert available(ours, "SKU-RARE") == 0


def test_a_repeated_reservation_after_the_stock_ran_out_still_answers_reserved(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    order = make_order("o-last", "alice", ("SKU-RARE", 1, "100.00"))
    assert inventory.reserve_stock(order) == StepOutcome(ok=True)
    assert available(inventory, "SKU-RARE") == 0

    again = inventory.reserve_stock(order)

    assert again == StepOutcome(ok=True)
    assert available(inventory, "SKU-RARE") == 0
    record = inventory.order_record("o-last")
    assert record is not None
    assert record.status is ReservationStatus.RESERVED
    assert record.reason is None


@pytest.mark.parametrize(
    "line", [("SKU-RARE", 5, "100.00"), ("SKU-GHOST", 1, "1.00")], ids=["short", "unknown"]
)
def test_a_fence_refuses_a_late_reservation_the_stock_could_not_serve_either(
    inventory: Inventory, make_order: OrderFactory, line: tuple[str, int, str]
) -> None:
    order = make_order("o-fenced-short", "alice", line)
    assert inventory.release_stock(order).ok

    late = inventory.reserve_stock(order)

    assert late.ok is False
    assert late.reason is not None
    assert "rolled back" in late.reason
    assert "cannot be reserved" not in late.reason
    record = inventory.order_record("o-fenced-short")
    assert record is not None
    assert record.status is ReservationStatus.FENCED
    assert available(inventory, "SKU-RARE") == 1
