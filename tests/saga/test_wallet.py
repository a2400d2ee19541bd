"""The payment ledger on a real Azurite: idempotent charges and refunds, fences, concurrency."""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal

import pytest
from azure.data.tables import TableClient

from durable_saga.documents import StepOutcome
from saga.models import PricedOrder
from saga.optimistic import LedgerContention, retry_on_conflict
from saga.settings import Settings
from saga.storage import WALLETS_TABLE, Ledgers, open_ledgers
from saga.wallet import PaymentStatus, Wallet, Wallets
from tests.saga.concurrency import all_at_once
from tests.saga.conftest import OrderFactory, StorageRequests


def balance(wallets: Wallets, customer_id: str) -> Decimal:
    wallet = wallets.wallet(customer_id)
    assert wallet is not None, f"{customer_id} has no wallet"
    return wallet.balance


def test_wallets_read_back(wallets: Wallets) -> None:
    assert wallets.wallet("alice") == Wallet(customerId="alice", balance=Decimal("1000.00"))
    assert wallets.wallet("nobody") is None


def test_charging_twice_takes_money_once(wallets: Wallets, make_order: OrderFactory) -> None:
    order = make_order("p1", "alice", ("SKU-RED", 3, "9.99"))

    outcomes = [wallets.charge_wallet(order), wallets.charge_wallet(order)]

    assert outcomes == [StepOutcome(ok=True), StepOutcome(ok=True)]
    assert balance(wallets, "alice") == Decimal("970.03")
    record = wallets.payment_record("alice", "p1")
    assert record is not None
    assert record.status is PaymentStatus.CHARGED
    assert record.amount == Decimal("29.97")


def test_insufficient_funds_is_a_stable_rejection_naming_the_numbers(
    wallets: Wallets, make_order: OrderFactory
) -> None:
    order = make_order("p-poor", "bob", ("SKU-RED", 2, "9.99"))

    first = wallets.charge_wallet(order)
    again = wallets.charge_wallet(order)

    assert first.ok is False
    assert first.reason is not None
    assert "bob has 10.00" in first.reason
    assert "p-poor needs 19.98" in first.reason
    assert again == first
    assert balance(wallets, "bob") == Decimal("10.00")
    record = wallets.payment_record("bob", "p-poor")
    assert record is not None
    assert record.status is PaymentStatus.REJECTED


def test_an_unknown_customer_is_rejected_by_name(
    wallets: Wallets, make_order: OrderFactory
) -> None:
    outcome = wallets.charge_wallet(make_order("p-who", "carol", ("SKU-RED", 1, "9.99")))

    assert outcome.ok is False
    assert outcome.reason is not None
    assert "customer carol has no wallet" in outcome.reason
    assert wallets.wallet("carol") is None


def test_charge_then_refund_restores_exactly_once(
    wallets: Wallets, make_order: OrderFactory
) -> None:
    order = make_order("p-undo", "alice", ("SKU-BLUE", 3, "5.00"))
    assert wallets.charge_wallet(order).ok

    refunds = [wallets.refund_payment(order), wallets.refund_payment(order)]

    assert all(outcome.ok for outcome in refunds)
    assert balance(wallets, "alice") == Decimal("1000.00")
    record = wallets.payment_record("alice", "p-undo")
    assert record is not None
    assert record.status is PaymentStatus.REFUNDED
    late = wallets.charge_wallet(order)
    assert late.ok is False
    assert late.reason is not None
    assert "rolled back" in late.reason
    assert balance(wallets, "alice") == Decimal("1000.00")


def test_refund_before_charge_fences_the_order(wallets: Wallets, make_order: OrderFactory) -> None:
    order = make_order("p-fence", "alice", ("SKU-RARE", 1, "100.00"))

    rollback = wallets.refund_payment(order)
    late = wallets.charge_wallet(order)

    assert rollback.ok is True
    assert late.ok is False
    assert late.reason is not None
    assert "p-fence" in late.reason
    assert balance(wallets, "alice") == Decimal("1000.00")
    record = wallets.payment_record("alice", "p-fence")
    assert record is not None
    assert record.status is PaymentStatus.FENCED


def test_refunding_a_rejected_payment_changes_nothing(
    wallets: Wallets, make_order: OrderFactory
) -> None:
    order = make_order("p-rejected", "bob", ("SKU-RARE", 1, "100.00"))
    rejection = wallets.charge_wallet(order)

    assert wallets.refund_payment(order).ok is True
    assert wallets.charge_wallet(order) == rejection
    assert balance(wallets, "bob") == Decimal("10.00")


def test_refund_gives_back_what_was_recorded_not_what_it_is_told(
    wallets: Wallets, make_order: OrderFactory
) -> None:
    assert wallets.charge_wallet(make_order("p-rec", "alice", ("SKU-RED", 1, "9.99"))).ok

    wallets.refund_payment(make_order("p-rec", "alice", ("SKU-RED", 50, "9.99")))

    assert balance(wallets, "alice") == Decimal("1000.00")


def test_parallel_charges_never_overdraw(wallets: Wallets, make_order: OrderFactory) -> None:
    wallets.open_wallet("dave", Decimal("100.00"))
    orders = [make_order(f"dave-{n}", "dave", ("SKU-X", 1, "7.00")) for n in range(20)]

    outcomes = all_at_once([lambda order=order: wallets.charge_wallet(order) for order in orders])

    assert sum(outcome.ok for outcome in outcomes) == 14
    assert balance(wallets, "dave") == Decimal("2.00")
    refused = [outcome.reason for outcome in outcomes if not outcome.ok]
    assert all(reason is not None and "needs 7.00" in reason for reason in refused)


def test_duplicate_deliveries_of_one_charge_apply_once(
    wallets: Wallets, make_order: OrderFactory
) -> None:
    order = make_order("p-dup", "alice", ("SKU-BLUE", 2, "5.00"))

    outcomes = all_at_once([lambda: wallets.charge_wallet(order)] * 10)

    assert all(outcome == StepOutcome(ok=True) for outcome in outcomes)
    assert balance(wallets, "alice") == Decimal("990.00")


def test_money_is_conserved_under_concurrent_charges_and_refunds(
    wallets: Wallets, make_order: OrderFactory
) -> None:
    wallets.open_wallet("erin", Decimal("60.00"))
    pick = random.Random(5)
    orders: list[PricedOrder] = [
        make_order(f"erin-{n}", "erin", ("SKU-X", pick.randint(1, 4), "2.50")) for n in range(24)
    ]
    calls: list[Callable[[], StepOutcome]] = []
    for order in orders:
        calls.append(lambda order=order: wallets.charge_wallet(order))
        if pick.random() < 0.4:
            calls.append(lambda order=order: wallets.refund_payment(order))
    pick.shuffle(calls)

    all_at_once(calls)

    charged = Decimal("0.00")
    for order in orders:
        record = wallets.payment_record("erin", order.orderId)
        assert record is not None, f"{order.orderId} left no record"
        if record.status is PaymentStatus.CHARGED:
            charged += record.amount
    now = balance(wallets, "erin")
    assert now >= 0
    assert now + charged == Decimal("60.00")


@pytest.mark.usefixtures("opened_ledgers")
def test_a_step_that_keeps_losing_races_raises_a_transient_error(
    ledger_settings: Settings, storage_connection_string: str
) -> None:
    table = TableClient.from_connection_string(
        storage_connection_string, f"{ledger_settings.table_prefix}Wallets"
    )
    table.create_entity({"PartitionKey": "zed", "RowKey": "taken"})
    tries = 0

    def always_conflicting() -> None:
        nonlocal tries
        tries += 1
        table.create_entity({"PartitionKey": "zed", "RowKey": "taken"})

    with pytest.raises(LedgerContention, match=r"charging zed.*gave up after 3 attempts"):
        retry_on_conflict("charging zed", always_conflicting, attempts=3)

    assert tries == 3


def test_a_refund_racing_its_charge_always_leaves_nothing_in_effect(
    wallets: Wallets, make_order: OrderFactory
) -> None:
    orders = [make_order(f"race-{n}", "alice", ("SKU-RED", n + 1, "9.99")) for n in range(12)]
    calls: list[Callable[[], StepOutcome]] = []
    for order in orders:
        calls += [
            lambda order=order: wallets.charge_wallet(order),
            lambda order=order: wallets.refund_payment(order),
        ]

    outcomes = all_at_once(calls)

    assert all(refund.ok for refund in outcomes[1::2])
    assert balance(wallets, "alice") == Decimal("1000.00")
    for order in orders:
        record = wallets.payment_record("alice", order.orderId)
        assert record is not None
        assert record.status in {PaymentStatus.REFUNDED, PaymentStatus.FENCED}


def test_a_fresh_charge_reads_only_the_wallet_then_commits_once(
    counted_ledgers: Ledgers, storage_requests: StorageRequests, make_order: OrderFactory
) -> None:
    order = make_order("p-lean", "alice", ("SKU-RED", 1, "9.99"))

    outcome = counted_ledgers.wallets.charge_wallet(order)

    assert outcome == StepOutcome(ok=True)
    assert storage_requests.sent == ["GET wallet", "POST $batch"]
    assert balance(counted_ledgers.wallets, "alice") == Decimal("990.01")


def test_a_fresh_refusal_reads_only_the_wallet_then_records_once(
    counted_ledgers: Ledgers,
    storage_requests: StorageRequests,
    ledger_settings: Settings,
    make_order: OrderFactory,
) -> None:
    order = make_order("p-lean-poor", "bob", ("SKU-RARE", 1, "100.00"))

    outcome = counted_ledgers.wallets.charge_wallet(order)

    assert outcome.ok is False
    assert storage_requests.sent == [
        "GET wallet",
        f"POST {ledger_settings.table_prefix}{WALLETS_TABLE}",
    ]
    record = counted_ledgers.wallets.payment_record("bob", "p-lean-poor")
    assert record is not None
    assert record.status is PaymentStatus.REJECTED


def test_a_repeated_charge_reads_the_record_once_its_commit_is_refused(
    counted_ledgers: Ledgers, storage_requests: StorageRequests, make_order: OrderFactory
) -> None:
    order = make_order("p-again", "alice", ("SKU-RED", 1, "9.99"))
    assert counted_ledgers.wallets.charge_wallet(order).ok
    storage_requests.sent.clear()

    again = counted_ledgers.wallets.charge_wallet(order)

    # The wallet is known from the first commit; creating the record again fails the batch.
    assert again == StepOutcome(ok=True)
    assert storage_requests.sent == ["POST $batch", "GET payment|p-again"]
    assert balance(counted_ledgers.wallets, "alice") == Decimal("990.01")


def test_a_repeated_charge_after_the_wallet_ran_dry_still_answers_charged(
    wallets: Wallets, make_order: OrderFactory
) -> None:
    order = make_order("p-last", "bob", ("SKU-BLUE", 2, "5.00"))
    assert wallets.charge_wallet(order) == StepOutcome(ok=True)
    assert balance(wallets, "bob") == Decimal("0.00")

    again = wallets.charge_wallet(order)

    assert again == StepOutcome(ok=True)
    assert balance(wallets, "bob") == Decimal("0.00")
    record = wallets.payment_record("bob", "p-last")
    assert record is not None
    assert record.status is PaymentStatus.CHARGED
    assert record.reason is None


@pytest.mark.parametrize("customer_id", ["bob", "carol"], ids=["poor", "no-wallet"])
def test_a_fence_refuses_a_late_charge_the_wallet_could_not_pay_either(
    wallets: Wallets, make_order: OrderFactory, customer_id: str
) -> None:
    order = make_order("p-fenced-poor", customer_id, ("SKU-RARE", 1, "100.00"))
    assert wallets.refund_payment(order).ok

    late = wallets.charge_wallet(order)

    assert late.ok is False
    assert late.reason is not None
    assert "rolled back" in late.reason
    assert "refused: " not in late.reason
    record = wallets.payment_record(customer_id, "p-fenced-poor")
    assert record is not None
    assert record.status is PaymentStatus.FENCED
    assert balance(wallets, "bob") == Decimal("10.00")


def test_a_remembered_empty_wallet_is_checked_in_storage_before_refusing(
    opened_ledgers: Ledgers, ledger_settings: Settings, make_order: OrderFactory
) -> None:
    ours, theirs = opened_ledgers.wallets, open_ledgers(ledger_settings).wallets
    first = make_order("p-all-of-it", "bob", ("SKU-BLUE", 2, "5.00"))
    assert ours.charge_wallet(first).ok
    # Another instance refunds it: the money is there again, which ours has not seen.
    assert theirs.refund_payment(first).ok

    outcome = ours.charge_wallet(make_order("p-next", "bob", ("SKU-BLUE", 1, "5.00")))

    assert outcome == StepOutcome(ok=True)
    assert balance(ours, "bob") == Decimal("5.00")


def test_a_wallet_changed_by_another_process_is_read_again_and_nothing_is_lost(
    opened_ledgers: Ledgers, ledger_settings: Settings, make_order: OrderFactory
) -> None:
    ours, theirs = opened_ledgers.wallets, open_ledgers(ledger_settings).wallets
    assert ours.charge_wallet(make_order("p-ours-1", "alice", ("SKU-RED", 1, "9.99"))).ok
    assert theirs.charge_wallet(make_order("p-theirs", "alice", ("SKU-RED", 2, "9.99"))).ok

    assert ours.charge_wallet(make_order("p-ours-2", "alice", ("SKU-RED", 3, "9.99"))).ok

    assert balance(ours, "alice") == Decimal("1000.00") - Decimal("9.99") * 6
