"""The four step activities called as the Python worker calls them: the input text decoded by the
activityTrigger converter, `main` called with the bound argument, the result encoded back."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from azure.functions import meta
from pydantic import ValidationError

from saga.faults import InjectedFault
from saga.inventory import ReservationStatus
from saga.models import PricedLine, PricedOrder
from saga.storage import Ledgers, ledgers
from saga.wallet import PaymentStatus
from tests.conftest import PROJECT_ROOT
from tests.functions.conftest import function

ACTIVITIES = [
    "OrderActivity",
    "PaymentActivity",
    "RollbackOrderActivity",
    "RollbackPaymentActivity",
]


def run_activity(folder: str, input_text: str) -> Any:
    """Decode, call and encode exactly as the worker does for an activityTrigger function."""
    (binding,) = json.loads((PROJECT_ROOT / folder / "function.json").read_text())["bindings"]
    converter = meta.get_binding_registry().get(binding["type"])
    argument = converter.decode(meta.Datum(input_text, "string"), trigger_metadata=None)
    result = function(folder).main(**{binding["name"]: argument})
    return json.loads(converter.encode(result, expected_type=None).value)


def order_text(order_id: str, customer_id: str, sku: str, quantity: int, price: str) -> str:
    """The activity input as the orchestrator sends it: the PricedOrder's JSON."""
    order = PricedOrder(
        orderId=order_id,
        customerId=customer_id,
        lines=[PricedLine(sku=sku, quantity=quantity, unitPrice=Decimal(price))],
        amount=Decimal(price) * quantity,
    )
    return json.dumps(order.model_dump(mode="json"))


def available(books: Ledgers, sku: str) -> int:
    item = books.inventory.item(sku)
    assert item is not None
    return item.available


def balance(books: Ledgers, customer_id: str) -> Decimal:
    wallet = books.wallets.wallet(customer_id)
    assert wallet is not None
    return wallet.balance


@pytest.mark.parametrize("folder", ACTIVITIES)
def test_each_activity_binds_one_activity_trigger_named_order(folder: str) -> None:
    declared = json.loads((PROJECT_ROOT / folder / "function.json").read_text())

    assert declared["bindings"] == [{"name": "order", "type": "activityTrigger", "direction": "in"}]


def test_order_activity_reserves_once_however_often_it_runs(app_ledgers: Ledgers) -> None:
    text = order_text("a-1", "alice", "SKU-RED", 4, "9.99")

    outcomes = [run_activity("OrderActivity", text) for _ in range(2)]

    assert outcomes == [{"ok": True, "reason": None}] * 2
    assert available(app_ledgers, "SKU-RED") == 996


def test_payment_activity_charges_once_however_often_it_runs(app_ledgers: Ledgers) -> None:
    text = order_text("a-2", "alice", "SKU-RED", 4, "9.99")

    outcomes = [run_activity("PaymentActivity", text) for _ in range(2)]

    assert outcomes == [{"ok": True, "reason": None}] * 2
    assert balance(app_ledgers, "alice") == Decimal("960.04")


def test_a_refused_payment_is_an_outcome_not_an_error(app_ledgers: Ledgers) -> None:
    outcome = run_activity("PaymentActivity", order_text("a-3", "bob", "SKU-BLUE", 3, "5.00"))

    assert outcome["ok"] is False
    assert "bob has 10.00" in outcome["reason"]
    assert "needs 15.00" in outcome["reason"]
    assert balance(app_ledgers, "bob") == Decimal("10.00")


def test_an_unavailable_item_is_an_outcome_not_an_error(app_ledgers: Ledgers) -> None:
    outcome = run_activity("OrderActivity", order_text("a-4", "alice", "SKU-RARE", 2, "100.00"))

    assert outcome["ok"] is False
    assert "SKU-RARE: 2 requested, only 1 available" in outcome["reason"]
    assert available(app_ledgers, "SKU-RARE") == 1


def test_rollbacks_undo_both_steps_exactly(app_ledgers: Ledgers) -> None:
    text = order_text("a-5", "alice", "SKU-RARE", 1, "100.00")
    assert run_activity("OrderActivity", text)["ok"] is True
    assert run_activity("PaymentActivity", text)["ok"] is True
    assert available(app_ledgers, "SKU-RARE") == 0
    assert balance(app_ledgers, "alice") == Decimal("900.00")

    released = run_activity("RollbackOrderActivity", text)
    refunded = run_activity("RollbackPaymentActivity", text)

    assert released == {"ok": True, "reason": None}
    assert refunded == {"ok": True, "reason": None}
    assert available(app_ledgers, "SKU-RARE") == 1
    assert balance(app_ledgers, "alice") == Decimal("1000.00")
    order = app_ledgers.inventory.order_record("a-5")
    payment = app_ledgers.wallets.payment_record("alice", "a-5")
    assert order is not None and order.status is ReservationStatus.RELEASED
    assert payment is not None and payment.status is PaymentStatus.REFUNDED


def test_rollbacks_that_arrive_first_fence_the_late_steps(app_ledgers: Ledgers) -> None:
    text = order_text("a-6", "alice", "SKU-RARE", 1, "100.00")

    fences = [
        run_activity("RollbackOrderActivity", text),
        run_activity("RollbackPaymentActivity", text),
    ]
    late = [run_activity("OrderActivity", text), run_activity("PaymentActivity", text)]

    assert [fence["ok"] for fence in fences] == [True, True]
    assert [step["ok"] for step in late] == [False, False]
    assert all("rolled back" in step["reason"] for step in late)
    assert available(app_ledgers, "SKU-RARE") == 1
    assert balance(app_ledgers, "alice") == Decimal("1000.00")


def test_a_malformed_order_is_refused_before_any_ledger_is_touched(
    app_ledgers: Ledgers,
) -> None:
    text = json.dumps({"orderId": "a-7", "customerId": "alice", "lines": [], "amount": "0.00"})

    with pytest.raises(ValidationError, match="lines"):
        run_activity("PaymentActivity", text)

    assert app_ledgers.wallets.payment_record("alice", "a-7") is None


def test_an_injected_fault_raises_and_its_retry_applies_once(
    app_ledgers: Ledgers, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = order_text("a-8", "alice", "SKU-BLUE", 2, "5.00")
    monkeypatch.setenv("SAGA_FAULT_TRANSIENT", "PaymentActivity=1")
    ledgers.cache_clear()
    faults = 0
    while (payment := app_ledgers.wallets.payment_record("alice", "a-8")) is None:
        with pytest.raises(InjectedFault, match="PaymentActivity"):
            run_activity("PaymentActivity", text)
        faults += 1
        assert faults < 100, "the fault never struck after the step"
    monkeypatch.delenv("SAGA_FAULT_TRANSIENT")
    ledgers.cache_clear()

    retried = run_activity("PaymentActivity", text)

    assert payment.status is PaymentStatus.CHARGED
    assert retried == {"ok": True, "reason": None}
    assert balance(app_ledgers, "alice") == Decimal("990.00")


def test_a_stall_setting_delays_the_named_activity(
    app_ledgers: Ledgers, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = order_text("a-9", "alice", "SKU-BLUE", 1, "5.00")
    monkeypatch.setenv("SAGA_FAULT_STALL", "RollbackOrderActivity=0.4")
    ledgers.cache_clear()

    started = time.monotonic()
    outcome = run_activity("RollbackOrderActivity", text)
    elapsed = time.monotonic() - started

    assert outcome["ok"] is True
    assert elapsed >= 0.4
    record = app_ledgers.inventory.order_record("a-9")
    assert record is not None and record.status is ReservationStatus.FENCED
