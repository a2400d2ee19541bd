"""The saga's lifecycle as an operator sees it over HTTP: Completed on the built-in status endpoint
as soon as the saga has decided, and a compensation that keeps failing taken over by an operator.

The step deadline is the default 60 s throughout: every wait below is far shorter, so a saga held
open until its deadline would fail these tests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.http_client import call, post_json, wait_for

from .conftest import LaunchApp
from .saga_client import SagaApp, new_id, order_body

pytestmark = pytest.mark.e2e

# Well under the 60 s step deadline.
DECIDED_SECONDS = 20.0


def builtin_status(app: SagaApp, order_id: str) -> dict[str, Any]:
    reply = call("GET", app.builtin(order_id))
    assert reply.status in (200, 202), str(reply)
    status: dict[str, Any] = reply.json()
    return status


def completed_on_the_builtin_endpoint(app: SagaApp, order_id: str) -> dict[str, Any]:
    def completed() -> dict[str, Any] | None:
        status = builtin_status(app, order_id)
        return status if status["runtimeStatus"] == "Completed" else None

    return wait_for(
        f"{order_id} to be Completed on the built-in status endpoint",
        completed,
        DECIDED_SECONDS,
        describe=lambda: str(builtin_status(app, order_id)),
    )


def test_a_happy_order_and_a_refused_payment_are_completed_as_soon_as_decided(
    app: SagaApp,
) -> None:
    happy, refused = new_id("happy"), new_id("refused")
    assert app.start(order_body(happy, "alice", ("SKU-BLUE", 1))).status == 202
    assert app.start(order_body(refused, "bob", ("SKU-RARE", 1))).status == 202

    assert completed_on_the_builtin_endpoint(app, happy)["output"]["outcome"] == "completed"
    status = completed_on_the_builtin_endpoint(app, refused)
    assert status["output"]["outcome"] == "compensated"
    assert status["customStatus"]["stage"] == "finished"


def test_a_payment_failing_every_attempt_is_completed_right_after_its_rollbacks(
    launch_app: LaunchApp,
) -> None:
    _, app = launch_app({"SAGA_FAULT_TRANSIENT": "PaymentActivity=1"})
    customer, sku = app.new_customer("50.00"), app.new_sku("5.00", 10)
    order_id = new_id("failing")
    assert app.start(order_body(order_id, customer, (sku, 2))).status == 202

    status = completed_on_the_builtin_endpoint(app, order_id)
    assert status["output"]["outcome"] == "compensated"
    assert status["output"]["steps"]["payment"]["reason"].startswith("failed: ")
    # Half the injected faults strike after the charge: the refund undid it.
    assert app.balance(customer) == Decimal("50.00")
    assert app.available(sku) == 10


def test_a_compensation_that_keeps_failing_is_retried_and_resolved_by_an_operator(
    launch_app: LaunchApp,
) -> None:
    # The payment rollback fails its first five calls for each order: its 2 attempts, then the
    # operator's first retry (2 more), then one more; the operator's second retry succeeds.
    _, app = launch_app(
        {
            "SAGA_FAULT_FIRST": "RollbackPaymentActivity=5",
            "SAGA_COMPENSATION_RETRY_ATTEMPTS": "2",
        }
    )
    customer, sku = app.new_customer("10.00"), app.new_sku("100.00", 3)
    retried, resolved = new_id("retried"), new_id("resolved")
    for order_id in (retried, resolved):
        # A payment the wallet cannot cover: the stock is reserved, then released.
        assert app.start(order_body(order_id, customer, (sku, 1))).status == 202

    waiting = wait_for(
        "both sagas to wait for an operator",
        lambda: rows if {retried, resolved} <= (rows := needing_attention(app)).keys() else None,
        30,
    )
    row = waiting[retried]
    assert row["runtimeStatus"] == "Running"
    assert row["outcome"] == "compensation_failed"
    view = app.get_order(retried).json()
    assert view["attention"]["rollbacks"] == ["payment"]
    assert "injected fault in RollbackPaymentActivity" in view["attention"]["lastError"]
    assert view["attention"]["operatorRetries"] == 0

    # While the fault lasts, a retry returns the saga to needs_attention.
    reply = post_json(app.url(f"orders/{retried}/compensation"), {"action": "retry"})
    assert reply.status == 202, str(reply)
    assert reply.json()["statusUri"] == app.url(f"orders/{retried}")
    view = wait_for(
        "the saga to wait again",
        lambda: attention_after(app, retried, operator_retries=1),
        30,
    )
    assert view["runtimeStatus"] == "Running"

    # The fault has cleared by the next retry: the saga ends compensated.
    assert post_json(app.url(f"orders/{retried}/compensation"), {"action": "retry"}).status == 202
    view = app.wait_until_settled(retried)
    assert (view["outcome"], view["operatorRetries"]) == ("compensated", 2)
    assert view["ledgers"]["order"]["status"] == "released"

    note = "payment team confirmed nothing was charged"
    reply = post_json(
        app.url(f"orders/{resolved}/compensation"), {"action": "resolve", "note": note}
    )
    assert reply.status == 202, str(reply)
    view = app.wait_until_settled(resolved)
    assert view["outcome"] == "resolved_manually"
    assert view["resolution"]["note"] == note
    # Resolved by hand: the rollback that failed left its ledger as it was (nothing was charged,
    # and nothing fenced it), and the stock the order step reserved is back.
    assert view["ledgers"]["payment"]["status"] == "rejected"
    assert view["ledgers"]["order"]["status"] == "released"
    assert app.balance(customer) == Decimal("10.00")
    assert app.available(sku) == 3

    # Nothing waits any more: another command is refused, naming the stage.
    again = post_json(app.url(f"orders/{resolved}/compensation"), {"action": "retry"})
    assert again.status == 409, str(again)
    assert "its stage is 'finished'" in again.json()["errors"][0]["message"]
    assert not {retried, resolved} & needing_attention(app).keys()


def needing_attention(app: SagaApp) -> dict[str, dict[str, Any]]:
    """The sagas `GET /api/orders?stage=needs_attention` lists, by order id."""
    pages = app.every_page(stage="needs_attention", top="100")
    return {row["orderId"]: row for page in pages for row in page["orders"]}


def attention_after(app: SagaApp, order_id: str, operator_retries: int) -> dict[str, Any] | None:
    view: dict[str, Any] = app.get_order(order_id).json()
    attention = view.get("attention") or {}
    if view.get("stage") == "needs_attention" and attention.get("operatorRetries") == (
        operator_retries
    ):
        return view
    return None
