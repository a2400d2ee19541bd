"""GET /api/orders/{orderId}, /api/customers/{customerId} and /api/inventory/{sku} through the
function folders' `main`, with the ledgers in the real Azurite and the order's saga state served
by a local stand-in for the Durable host's RPC endpoint."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from saga.models import (
    Outcome,
    PricedLine,
    PricedOrder,
    SagaInput,
    SagaProgress,
    SagaResult,
    SagaSteps,
    StepResult,
    StepStatus,
)
from saga.storage import Ledgers
from tests.functions.conftest import Reply, function, http_request, reply
from tests.functions.durable_rpc_server import DurableRpcServer, EventLoopThread, Instance

START = function("StartSaga")
GET_ORDER = function("GetOrder")
GET_CUSTOMER = function("GetCustomer")
GET_INVENTORY = function("GetInventory")


def get_customer(customer_id: str) -> Reply:
    request = http_request(
        "GET", f"/api/customers/{customer_id}", route_params={"customerId": customer_id}
    )
    return reply(GET_CUSTOMER.main(request))


def get_inventory(sku: str) -> Reply:
    request = http_request("GET", f"/api/inventory/{sku}", route_params={"sku": sku})
    return reply(GET_INVENTORY.main(request))


def get_order(loop: EventLoopThread, host: DurableRpcServer, order_id: str) -> Reply:
    request = http_request("GET", f"/api/orders/{order_id}", route_params={"orderId": order_id})
    return reply(loop.run(GET_ORDER.main(request, host.client_binding())))


def start_order(
    loop: EventLoopThread, host: DurableRpcServer, customer: str, items: dict[str, int]
) -> PricedOrder:
    """Start an order through StartSaga and return the priced order the saga was given."""
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    body = {
        "orderId": order_id,
        "customerId": customer,
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items.items()],
    }
    request = http_request("POST", "/api/orders", body=json.dumps(body).encode())
    assert reply(loop.run(START.main(request, host.client_binding()))).status == 202
    return SagaInput.model_validate_json(host.starts()[-1].body).order


def times(host: DurableRpcServer, order_id: str) -> dict[str, str]:
    instance = host.instances[order_id]
    return {
        "createdTime": instance.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lastUpdatedTime": instance.updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


PENDING_STEPS = {
    "order": {"status": "pending", "reason": None},
    "payment": {"status": "pending", "reason": None},
}


# --- customers and inventory ---------------------------------------------------------------------


def test_customers_show_their_balance_with_two_places(app_ledgers: Ledgers) -> None:
    assert get_customer("alice") == Reply(
        200,
        {"content-type": "application/json"},
        {"customerId": "alice", "balance": "1000.00"},
    )
    assert get_customer("bob").body == {"customerId": "bob", "balance": "10.00"}


def test_inventory_shows_price_and_stock(app_ledgers: Ledgers) -> None:
    assert get_inventory("SKU-RARE") == Reply(
        200,
        {"content-type": "application/json"},
        {"sku": "SKU-RARE", "unitPrice": "100.00", "available": 1},
    )
    assert get_inventory("SKU-RED").body == {
        "sku": "SKU-RED",
        "unitPrice": "9.99",
        "available": 1000,
    }


def test_unknown_customers_and_skus_are_404_with_an_error_document(app_ledgers: Ledgers) -> None:
    assert get_customer("carol") == Reply(
        404,
        {"content-type": "application/json"},
        {"errors": [{"field": "customerId", "message": "no customer 'carol'"}]},
    )
    assert get_inventory("SKU-NOPE") == Reply(
        404,
        {"content-type": "application/json"},
        {"errors": [{"field": "sku", "message": "no sku 'SKU-NOPE' in the catalog"}]},
    )


@pytest.mark.parametrize("bad", ["@alice", " alice", "x" * 101, "a\tb"])
def test_invalid_ids_in_the_url_are_400(app_ledgers: Ledgers, bad: str) -> None:
    customer = get_customer(bad)
    sku = get_inventory(bad)

    assert customer.status == sku.status == 400
    assert [error["field"] for error in customer.body["errors"]] == ["customerId"]
    assert [error["field"] for error in sku.body["errors"]] == ["sku"]


def test_reads_follow_the_ledgers_as_orders_take_effect(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers
) -> None:
    order = start_order(loop, host, "alice", {"SKU-RARE": 1, "SKU-RED": 2})
    assert app_ledgers.inventory.reserve_stock(order).ok
    assert app_ledgers.wallets.charge_wallet(order).ok

    assert get_customer("alice").body == {"customerId": "alice", "balance": "880.02"}
    assert get_inventory("SKU-RARE").body["available"] == 0
    assert get_inventory("SKU-RED").body["available"] == 998


# --- orders -----------------------------------------------------------------------------------


def test_an_unknown_order_is_404(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers
) -> None:
    answer = get_order(loop, host, "order-nobody")

    assert answer.status == 404
    assert answer.body == {"errors": [{"field": "orderId", "message": "no order 'order-nobody'"}]}


def test_an_instance_of_another_orchestration_is_not_an_order(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers
) -> None:
    host.instances["job-1"] = Instance(name="NightlyReport", input='{"day": "2026-11-27"}')

    answer = get_order(loop, host, "job-1")

    assert answer.status == 404
    assert answer.body == {"errors": [{"field": "orderId", "message": "no order 'job-1'"}]}


def test_an_invalid_order_id_is_400_without_asking_the_host(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers
) -> None:
    answer = get_order(loop, host, "@entity")

    assert answer.status == 400
    assert answer.body == {"errors": [{"field": "orderId", "message": "must not start with '@'"}]}
    assert host.calls == []


def test_a_pending_order_shows_its_amount_and_pending_steps(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers
) -> None:
    order = start_order(loop, host, "alice", {"SKU-RED": 2, "SKU-BLUE": 1})

    answer = get_order(loop, host, order.orderId)

    assert answer.status == 200
    assert answer.body == {
        "orderId": order.orderId,
        "runtimeStatus": "Pending",
        "outcome": None,
        "stage": None,
        "customerId": "alice",
        "amount": "24.98",
        "steps": PENDING_STEPS,
        **times(host, order.orderId),
        "ledgers": {"order": None, "payment": None},
    }


def test_a_running_order_shows_its_progress_and_the_ledgers_effects(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers
) -> None:
    order = start_order(loop, host, "alice", {"SKU-RED": 2, "SKU-BLUE": 1})
    assert app_ledgers.inventory.reserve_stock(order).ok
    progress = SagaProgress(
        stage="waiting for the payment",
        steps=SagaSteps(order=StepResult(status=StepStatus.SUCCEEDED)),
    )
    host.advance(order.orderId, "Running", custom_status=progress.model_dump(mode="json"))

    answer = get_order(loop, host, order.orderId)

    assert answer.body == {
        "orderId": order.orderId,
        "runtimeStatus": "Running",
        "outcome": "running",
        "stage": "waiting for the payment",
        "customerId": "alice",
        "amount": "24.98",
        "steps": {**PENDING_STEPS, "order": {"status": "succeeded", "reason": None}},
        **times(host, order.orderId),
        "ledgers": {
            "order": {"status": "reserved", "amount": "24.98", "reason": None},
            "payment": None,
        },
    }


def test_a_completed_order_shows_the_sagas_result(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers
) -> None:
    order = start_order(loop, host, "alice", {"SKU-RARE": 1})
    assert app_ledgers.inventory.reserve_stock(order).ok
    assert app_ledgers.wallets.charge_wallet(order).ok
    succeeded = StepResult(status=StepStatus.SUCCEEDED)
    result = SagaResult(
        orderId=order.orderId,
        outcome=Outcome.COMPLETED,
        amount=order.amount,
        steps=SagaSteps(order=succeeded, payment=succeeded),
    )
    finished = SagaProgress(stage="finished", outcome=Outcome.COMPLETED, steps=result.steps)
    host.advance(
        order.orderId,
        "Completed",
        output=result.model_dump(mode="json"),
        custom_status=finished.model_dump(mode="json"),
    )

    answer = get_order(loop, host, order.orderId)

    assert answer.status == 200
    assert answer.body == {
        "orderId": order.orderId,
        "runtimeStatus": "Completed",
        "outcome": "completed",
        "stage": "finished",
        "operatorRetries": 0,
        "customerId": "alice",
        "amount": "100.00",
        "steps": {
            "order": {"status": "succeeded", "reason": None},
            "payment": {"status": "succeeded", "reason": None},
        },
        **times(host, order.orderId),
        "ledgers": {
            "order": {"status": "reserved", "amount": "100.00", "reason": None},
            "payment": {"status": "charged", "amount": "100.00", "reason": None},
        },
    }


def test_a_compensated_order_shows_why_and_what_was_undone(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers
) -> None:
    order = start_order(loop, host, "bob", {"SKU-RARE": 1})
    assert app_ledgers.inventory.reserve_stock(order).ok
    payment = app_ledgers.wallets.charge_wallet(order)
    assert not payment.ok
    assert app_ledgers.inventory.release_stock(order).ok
    result = SagaResult(
        orderId=order.orderId,
        outcome=Outcome.COMPENSATED,
        amount=order.amount,
        steps=SagaSteps(
            order=StepResult(status=StepStatus.COMPENSATED),
            payment=StepResult(status=StepStatus.REJECTED, reason=payment.reason),
        ),
    )
    host.advance(order.orderId, "Completed", output=json.dumps(result.model_dump(mode="json")))

    body: dict[str, Any] = get_order(loop, host, order.orderId).body

    assert body["outcome"] == "compensated"
    assert body["steps"]["payment"] == {"status": "rejected", "reason": payment.reason}
    assert body["ledgers"] == {
        "order": {"status": "released", "amount": "100.00", "reason": None},
        "payment": {"status": "rejected", "amount": "100.00", "reason": payment.reason},
    }
    assert get_customer("bob").body["balance"] == "10.00"
    assert get_inventory("SKU-RARE").body["available"] == 1


def test_a_failed_orchestration_shows_the_hosts_reason_and_no_outcome(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers
) -> None:
    order = start_order(loop, host, "alice", {"SKU-BLUE": 2})
    reason = "Orchestrator function 'OrderSaga' failed: something broke"
    host.advance(order.orderId, "Failed", output=reason)

    body: dict[str, Any] = get_order(loop, host, order.orderId).body

    assert body["runtimeStatus"] == "Failed"
    assert body["outcome"] is None
    assert body["error"] == reason
    assert body["amount"] == "10.00"
    assert body["steps"] == PENDING_STEPS


def test_unreachable_storage_is_a_503_with_an_error_document(
    loop: EventLoopThread, host: DurableRpcServer, storage_down: None
) -> None:
    order = PricedOrder(
        orderId="order-1",
        customerId="alice",
        lines=[PricedLine(sku="SKU-RED", quantity=1, unitPrice=Decimal("9.99"))],
        amount=Decimal("9.99"),
    )
    host.claim_after_next_miss(order.orderId, SagaInput(order=order).model_dump(mode="json"))
    assert get_order(loop, host, order.orderId).status == 404  # and now the saga exists

    reads = [get_order(loop, host, order.orderId), get_customer("alice"), get_inventory("SKU-RED")]

    for answer in reads:
        assert answer.status == 503
        assert answer.headers["retry-after"] == "5"
        [error] = answer.body["errors"]
        assert error["field"] == ""
        assert error["message"].startswith("table storage did not answer: ")
        assert error["message"].endswith("; try again shortly")
