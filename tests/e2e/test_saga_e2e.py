"""The saga end to end over real HTTP: start orders, watch them settle, and check what the ledgers
did, on every host the app runs on.

Tests in this module share one running app and run one after another, so a test that reads a demo
wallet or SKU before and after its own saga sees only its own saga's effect.
"""

from __future__ import annotations

import json
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from saga.wallet import PaymentStatus
from tests.http_client import Reply, call, wait_for

from .conftest import LaunchApp
from .saga_client import SagaApp, new_id, order_body

pytestmark = pytest.mark.e2e

SUCCEEDED = {"status": "succeeded", "reason": None}


def started(reply: Reply, order_id: str) -> dict[str, Any]:
    """The answer to an accepted start: the order's own status URL."""
    assert reply.status == 202, str(reply)
    payload: dict[str, Any] = reply.json()
    assert payload["orderId"] == order_id, str(reply)
    assert payload["statusUri"].endswith(f"/api/orders/{order_id}"), str(reply)
    assert reply.headers["Location"] == payload["statusUri"], str(reply)
    return payload


def field_errors(reply: Reply) -> set[str]:
    errors = reply.json()["errors"]
    assert errors and all(error["message"] for error in errors), str(reply)
    return {error["field"] for error in errors}


def assert_compensated(view: dict[str, Any]) -> None:
    assert view["runtimeStatus"] == "Completed", view
    assert view["outcome"] == "compensated", view
    assert view["steps"]["order"]["status"] == "compensated", view
    assert view["steps"]["payment"]["status"] == "compensated", view


def test_completed_saga_charges_the_exact_amount_and_reserves_the_stock(app: SagaApp) -> None:
    customer = app.new_customer("100.00")
    red, blue = app.new_sku("9.99", 10), app.new_sku("5.00", 3)
    order_id = new_id("order")

    reply = app.start(order_body(order_id, customer, (red, 2), (blue, 3)))
    started(reply, order_id)
    view = app.wait_until_settled(order_id)

    assert view["runtimeStatus"] == "Completed", view
    assert view["outcome"] == "completed", view
    assert view["customerId"] == customer
    assert view["amount"] == "34.98"
    assert view["steps"] == {"order": SUCCEEDED, "payment": SUCCEEDED}
    assert view["ledgers"] == {
        "order": {"status": "reserved", "amount": "34.98", "reason": None},
        "payment": {"status": "charged", "amount": "34.98", "reason": None},
    }
    assert app.balance(customer) == Decimal("65.02")
    assert (app.available(red), app.available(blue)) == (8, 0)
    record = app.ledgers.inventory.order_record(order_id)
    assert record is not None
    assert {(line.sku, line.quantity) for line in record.lines} == {(red, 2), (blue, 3)}


def test_insufficient_funds_compensates_and_restores_the_stock(app: SagaApp) -> None:
    balance, stock = app.balance("bob"), app.available("SKU-RED")
    order_id = new_id("order")

    started(app.start(order_body(order_id, "bob", ("SKU-RED", 2))), order_id)
    view = app.wait_until_settled(order_id)

    assert_compensated(view)
    assert "refused" in view["steps"]["payment"]["reason"], view
    assert view["ledgers"]["payment"]["status"] == "rejected", view
    assert view["ledgers"]["order"]["status"] == "released", view
    assert app.balance("bob") == balance
    assert app.available("SKU-RED") == stock


def test_exhausted_stock_compensates_and_refunds_the_wallet(app: SagaApp) -> None:
    balance, stock = app.balance("alice"), app.available("SKU-RARE")
    order_id = new_id("order")

    started(app.start(order_body(order_id, "alice", ("SKU-RARE", 2))), order_id)
    view = app.wait_until_settled(order_id)

    assert_compensated(view)
    assert "SKU-RARE" in view["steps"]["order"]["reason"], view
    assert view["ledgers"]["order"]["status"] == "rejected", view
    assert view["ledgers"]["payment"] == {"status": "refunded", "amount": "200.00", "reason": None}
    assert app.balance("alice") == balance
    assert app.available("SKU-RARE") == stock == 1


def test_unknown_customer_compensates(app: SagaApp) -> None:
    stock = app.available("SKU-BLUE")
    order_id, stranger = new_id("order"), new_id("nobody")

    started(app.start(order_body(order_id, stranger, ("SKU-BLUE", 1))), order_id)
    view = app.wait_until_settled(order_id)

    assert_compensated(view)
    assert "no wallet" in view["steps"]["payment"]["reason"], view
    assert view["ledgers"]["order"]["status"] == "released", view
    assert app.available("SKU-BLUE") == stock
    assert call("GET", app.url(f"customers/{stranger}")).status == 404


def test_a_repeated_start_is_one_saga_and_one_charge(app: SagaApp) -> None:
    customer, sku = app.new_customer("50.00"), app.new_sku("7.50", 5)
    order_id = new_id("order")
    body = order_body(order_id, customer, (sku, 2))

    first = started(app.start(body), order_id)
    again = started(app.start(body), order_id)
    app.wait_until_settled(order_id)
    after_settling = started(app.start(body), order_id)

    assert first == again == after_settling
    view = app.wait_until_settled(order_id)
    assert view["outcome"] == "completed", view
    assert app.balance(customer) == Decimal("35.00")
    assert app.available(sku) == 3


def test_concurrent_starts_of_one_order_are_one_saga_and_one_charge(app: SagaApp) -> None:
    customer, sku = app.new_customer("40.00"), app.new_sku("6.00", 9)
    order_id = new_id("order")
    body = order_body(order_id, customer, (sku, 3))

    with ThreadPoolExecutor(8) as clients:
        replies = list(clients.map(lambda _: app.start(body), range(8)))

    payloads = [started(reply, order_id) for reply in replies]
    assert all(payload == payloads[0] for payload in payloads)
    view = app.wait_until_settled(order_id)
    assert view["outcome"] == "completed", view
    assert app.balance(customer) == Decimal("22.00")
    assert app.available(sku) == 6


def test_the_same_order_id_with_another_body_is_a_conflict(app: SagaApp) -> None:
    customer, sku = app.new_customer("50.00"), app.new_sku("1.00", 10)
    order_id = new_id("order")
    started(app.start(order_body(order_id, customer, (sku, 1))), order_id)

    for other in (order_body(order_id, customer, (sku, 2)), order_body(order_id, "bob", (sku, 1))):
        reply = app.start(other)
        assert reply.status == 409, str(reply)
        assert field_errors(reply) == {"orderId"}

    view = app.wait_until_settled(order_id)
    assert view["outcome"] == "completed", view
    assert app.balance(customer) == Decimal("49.00")
    assert app.available(sku) == 9


# Bad bodies that are otherwise complete use this id, so each case can check nothing started.
REFUSED_ORDER_ID = new_id("refused")


def order_json(**fields: Any) -> str:
    document = {"orderId": REFUSED_ORDER_ID, "customerId": "alice", **fields}
    return json.dumps({name: value for name, value in document.items() if value is not None})


def lines(quantity: Any) -> list[dict[str, Any]]:
    return [{"sku": "SKU-RED", "quantity": quantity}]


BAD_BODIES: dict[str, tuple[bytes | str, set[str]]] = {
    "malformed JSON": (b'{"customerId": "alice", "items": [', {"body"}),
    "not an object": (b'[{"customerId": "alice"}]', {"body"}),
    "empty": (b"", {"body"}),
    "missing customerId": (order_json(customerId=None, items=lines(1)), {"customerId"}),
    "missing items": (order_json(), {"items"}),
    "no items": (order_json(items=[]), {"items"}),
    "zero quantity": (order_json(items=lines(0)), {"items.0.quantity"}),
    "negative quantity": (order_json(items=lines(-3)), {"items.0.quantity"}),
    "fractional quantity": (order_json(items=lines(1.5)), {"items.0.quantity"}),
    "quantity as text": (order_json(items=lines("2")), {"items.0.quantity"}),
    "quantity too large": (order_json(items=lines(10_001)), {"items.0.quantity"}),
    "unknown field": (order_json(items=lines(1), coupon="FREE"), {"coupon"}),
    "orderId with a slash": (order_json(orderId="a/b", items=lines(1)), {"orderId"}),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_a_bad_body_is_refused_with_400_naming_the_field(app: SagaApp, case: str) -> None:
    body, fields = BAD_BODIES[case]
    raw = body if isinstance(body, bytes) else body.encode()

    reply = call("POST", app.url("orders"), raw, {"Content-Type": "application/json"})

    assert reply.status == 400, str(reply)
    assert field_errors(reply) == fields
    assert app.get_order(REFUSED_ORDER_ID).status == 404


def test_an_unknown_sku_is_refused_with_422_and_starts_nothing(app: SagaApp) -> None:
    order_id, missing = new_id("order"), new_id("SKU-MISSING")
    balance = app.balance("alice")

    reply = app.start(order_body(order_id, "alice", ("SKU-RED", 1), (missing, 1)))

    assert reply.status == 422, str(reply)
    assert reply.json()["errors"] == [
        {"field": "items.1.sku", "message": f"unknown sku {missing!r}"}
    ]
    assert app.get_order(order_id).status == 404
    assert app.balance("alice") == balance


def test_an_unknown_order_is_404(app: SagaApp) -> None:
    reply = app.get_order(new_id("order"))
    assert reply.status == 404, str(reply)
    assert field_errors(reply) == {"orderId"}


def test_the_built_in_status_and_purge_endpoints_see_the_saga(app: SagaApp) -> None:
    customer, sku = app.new_customer("10.00"), app.new_sku("2.50", 4)
    order_id = new_id("order")
    started(app.start(order_body(order_id, customer, (sku, 2))), order_id)
    app.wait_until_settled(order_id)

    # The run's own task hub (set through AzureFunctionsJobHost__...hubName), not host.json's.
    status = call("GET", app.builtin(order_id))
    assert status.status == 200, str(status)
    instance = status.json()
    assert instance["name"] == "OrderSaga"
    assert instance["instanceId"] == order_id
    assert instance["runtimeStatus"] == "Completed"
    assert instance["output"]["orderId"] == order_id
    assert instance["output"]["outcome"] == "completed"
    assert instance["output"]["amount"] == "5.00"
    assert instance["customStatus"]["stage"] == "finished"

    purged = call("DELETE", app.builtin(order_id))
    assert purged.status == 200, str(purged)
    assert purged.json() == {"instancesDeleted": 1}
    gone = call("GET", app.builtin(order_id))
    assert gone.status == 404, str(gone)
    assert app.get_order(order_id).status == 404
    # Purging forgets the saga, not what it did: the charge and the reservation stay.
    assert app.balance(customer) == Decimal("5.00")
    assert app.available(sku) == 2


def test_terminating_a_stalled_saga_stops_it(launch_app: LaunchApp) -> None:
    """PaymentActivity stalls far beyond the test, so the saga is reliably mid-flight."""
    launcher, app = launch_app(
        {"SAGA_FAULT_STALL": "PaymentActivity=60", "SAGA_STEP_DEADLINE_SECONDS": "300"}
    )
    try:
        customer, sku = app.new_customer("20.00"), app.new_sku("4.00", 5)
        order_id = new_id("order")
        started(app.start(order_body(order_id, customer, (sku, 1))), order_id)

        def stock_reserved() -> bool | None:
            return app.ledgers.inventory.order_record(order_id) is not None or None

        wait_for("the order step to reserve the stock", stock_reserved, 60)
        view = app.get_order(order_id).json()
        assert view["runtimeStatus"] == "Running", view
        assert view["ledgers"]["order"]["status"] == "reserved", view
        assert view["ledgers"]["payment"] is None, view
        running = call("GET", app.builtin(order_id))
        assert running.status == 202, str(running)
        assert running.json()["runtimeStatus"] == "Running"

        reason = "stuck payment, cancelled by operator"
        terminate_url = app.builtin(order_id, "terminate", f"reason={urllib.parse.quote(reason)}")
        terminated = call("POST", terminate_url)
        assert terminated.status == 202, str(terminated)

        def stopped() -> dict[str, Any] | None:
            instance: dict[str, Any] = call("GET", app.builtin(order_id)).json()
            return instance if instance["runtimeStatus"] == "Terminated" else None

        instance = wait_for("the saga to be terminated", stopped, 60)
        assert instance["output"] == reason
        view = app.get_order(order_id).json()
        assert view["runtimeStatus"] == "Terminated", view
        assert view["error"] == reason, view
        # Terminating is not compensating: what the saga did before it was stopped stays done.
        assert view["ledgers"]["order"]["status"] == "reserved", view
        again = call("POST", terminate_url)
        assert again.status == 410, str(again)
    finally:
        # The stalled payment would hold a graceful stop for a minute; the test is over.
        for running_app in launcher.runs:
            running_app.kill()


def test_a_step_past_its_deadline_is_compensated_and_its_late_charge_refused(
    launch_app: LaunchApp,
) -> None:
    """PaymentActivity stalls beyond the step deadline: the saga compensates without waiting for
    it, and when the stalled charge finally runs it meets the rollback's fence."""
    _, app = launch_app(
        {"SAGA_FAULT_STALL": "PaymentActivity=6", "SAGA_STEP_DEADLINE_SECONDS": "1"}
    )
    customer, sku = app.new_customer("30.00"), app.new_sku("8.00", 5)
    order_id = new_id("order")
    late_charge = "Executed 'Functions.PaymentActivity' (Succeeded"

    started(app.start(order_body(order_id, customer, (sku, 2))), order_id)
    view = app.wait_until_settled(order_id)

    assert_compensated(view)
    assert "timed_out" in view["steps"]["payment"]["reason"], view
    assert view["ledgers"]["order"]["status"] == "released", view
    assert view["ledgers"]["payment"]["status"] == "fenced", view
    wait_for(
        "the stalled charge to run",
        lambda: app.running.count_printed(late_charge) == 1 or None,
        30,
        describe=app.running.output,
    )
    payment = app.ledgers.wallets.payment_record(customer, order_id)
    assert payment is not None and payment.status is PaymentStatus.FENCED, payment
    assert app.balance(customer) == Decimal("30.00")
    assert app.available(sku) == 5


def test_the_start_endpoint_accepts_orders_without_an_id(app: SagaApp) -> None:
    customer, sku = app.new_customer("3.00"), app.new_sku("3.00", 1)

    reply = app.start(order_body(None, customer, (sku, 1)))

    assert reply.status == 202, str(reply)
    order_id = reply.json()["orderId"]
    view = app.wait_until_settled(order_id)
    assert view["outcome"] == "completed", view
    assert app.balance(customer) == Decimal("0.00")
    assert app.available(sku) == 0
