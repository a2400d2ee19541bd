"""GET /api/orders/{orderId}, /api/customers/{customerId} and /api/inventory/{sku} on durable_host's
test kit: the real functions, the order's saga run by the engine (with its real activities, unless
a test needs a path the ledgers would not take), and the ledgers in the real Azurite."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from durable_host.testing import DurableTestEnv, HttpResponse, InstanceStatus
from tests.conftest import PROJECT_ROOT
from tests.functions.conftest import (
    activity_held,
    app_env,
    available,
    balance,
    durable_host_unreachable,
    orchestrations_held,
    post_order,
)
from tests.saga.scripted import INSTANCE, start_saga
from tests.saga.scripted import saga_env as scripted_saga_env

JSON = {"content-type": "application/json"}
PENDING_STEPS = {
    "order": {"status": "pending", "reason": None},
    "payment": {"status": "pending", "reason": None},
}


def seen(answer: HttpResponse) -> tuple[int, dict[str, str], Any]:
    """What a client gets: the status, the headers (names in lower case) and the JSON body."""
    headers = {name.lower(): value for name, value in answer.headers.items()}
    return answer.status, headers, answer.json() if answer.body else None


async def get_customer(env: DurableTestEnv, customer_id: str) -> HttpResponse:
    return await env.request("GET", f"/api/customers/{quote(customer_id, safe='')}")


async def get_inventory(env: DurableTestEnv, sku: str) -> HttpResponse:
    return await env.request("GET", f"/api/inventory/{quote(sku, safe='')}")


async def get_order(env: DurableTestEnv, order_id: str) -> HttpResponse:
    return await env.request("GET", f"/api/orders/{quote(order_id, safe='')}")


async def start_order(env: DurableTestEnv, customer: str, items: dict[str, int]) -> str:
    """Start an order through StartSaga; its id."""
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    body = {
        "orderId": order_id,
        "customerId": customer,
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items.items()],
    }
    answer = await post_order(env, body)
    assert answer.status == 202, answer.text
    return order_id


def times(status: InstanceStatus | None) -> dict[str, str]:
    """The instance's times as the Durable status API shows them."""
    assert status is not None
    return {
        "createdTime": status.created_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lastUpdatedTime": status.last_updated_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# --- customers and inventory ---------------------------------------------------------------------


async def test_customers_show_their_balance_with_two_places(env: DurableTestEnv) -> None:
    assert seen(await get_customer(env, "alice")) == (
        200,
        JSON,
        {"customerId": "alice", "balance": "1000.00"},
    )
    assert (await get_customer(env, "bob")).json() == {"customerId": "bob", "balance": "10.00"}


async def test_inventory_shows_price_and_stock(env: DurableTestEnv) -> None:
    assert seen(await get_inventory(env, "SKU-RARE")) == (
        200,
        JSON,
        {"sku": "SKU-RARE", "unitPrice": "100.00", "available": 1},
    )
    assert (await get_inventory(env, "SKU-RED")).json() == {
        "sku": "SKU-RED",
        "unitPrice": "9.99",
        "available": 1000,
    }


async def test_unknown_customers_and_skus_are_404_with_an_error_document(
    env: DurableTestEnv,
) -> None:
    assert seen(await get_customer(env, "carol")) == (
        404,
        JSON,
        {"errors": [{"field": "customerId", "message": "no customer 'carol'"}]},
    )
    assert seen(await get_inventory(env, "SKU-NOPE")) == (
        404,
        JSON,
        {"errors": [{"field": "sku", "message": "no sku 'SKU-NOPE' in the catalog"}]},
    )


@pytest.mark.parametrize("bad", ["@alice", " alice", "x" * 101, "a\tb"])
async def test_invalid_ids_in_the_url_are_400(env: DurableTestEnv, bad: str) -> None:
    customer = await get_customer(env, bad)
    sku = await get_inventory(env, bad)

    assert customer.status == sku.status == 400
    assert [error["field"] for error in customer.json()["errors"]] == ["customerId"]
    assert [error["field"] for error in sku.json()["errors"]] == ["sku"]


async def test_reads_follow_the_ledgers_as_orders_take_effect(env: DurableTestEnv) -> None:
    order_id = await start_order(env, "alice", {"SKU-RARE": 1, "SKU-RED": 2})
    saga = await env.wait_for(order_id, "Completed")

    assert saga.output["outcome"] == "completed"
    assert await balance(env, "alice") == "880.02"
    assert await available(env, "SKU-RARE") == 0
    assert await available(env, "SKU-RED") == 998


# --- orders -----------------------------------------------------------------------------------


async def test_an_unknown_order_is_404(env: DurableTestEnv) -> None:
    answer = await get_order(env, "order-nobody")

    assert answer.status == 404
    assert answer.json() == {"errors": [{"field": "orderId", "message": "no order 'order-nobody'"}]}


@pytest.fixture
def app_with_a_report(tmp_path: Path) -> Path:
    """The app with one more orchestrator, NightlyReport, whose instances share the orders' task
    hub: a copy of the app's own folders and settings, and the new folder."""
    app = tmp_path / "app"
    app.mkdir()
    for entry in PROJECT_ROOT.iterdir():
        if (entry / "function.json").is_file():
            shutil.copytree(entry, app / entry.name, ignore=shutil.ignore_patterns("__pycache__"))
        elif entry.name in ("host.json", "local.settings.json"):
            shutil.copy(entry, app / entry.name)
    report = app / "NightlyReport"
    report.mkdir()
    trigger = {"name": "context", "type": "orchestrationTrigger", "direction": "in"}
    (report / "function.json").write_text(json.dumps({"bindings": [trigger]}))
    (report / "__init__.py").write_text(
        "import azure.durable_functions as df\n\n\n"
        "def orchestrator(context):\n"
        "    return {'day': context.get_input()['day'], 'orders': 0}\n\n\n"
        "main = df.Orchestrator.create(orchestrator)\n"
    )
    return app


async def test_an_instance_of_another_orchestration_is_not_an_order(
    ledger_settings: dict[str, str], app_with_a_report: Path
) -> None:
    async with app_env(ledger_settings, app_dir=app_with_a_report) as env:
        await env.start("NightlyReport", {"day": "2026-11-27"}, "job-1")
        report = await env.wait_for("job-1", "Completed")

        answer = await get_order(env, "job-1")

    assert report.name == "NightlyReport"
    assert answer.status == 404
    assert answer.json() == {"errors": [{"field": "orderId", "message": "no order 'job-1'"}]}


async def test_an_invalid_order_id_is_400_without_asking_the_host(env: DurableTestEnv) -> None:
    with durable_host_unreachable(env):
        answer = await get_order(env, "@entity")

    assert answer.status == 400
    assert answer.json() == {"errors": [{"field": "orderId", "message": "must not start with '@'"}]}


async def test_a_pending_order_shows_its_amount_and_pending_steps(env: DurableTestEnv) -> None:
    with orchestrations_held(env):
        order_id = await start_order(env, "alice", {"SKU-RED": 2, "SKU-BLUE": 1})
        answer = await get_order(env, order_id)
        status = await env.status(order_id)

    assert answer.status == 200
    assert answer.json() == {
        "orderId": order_id,
        "runtimeStatus": "Pending",
        "outcome": None,
        "stage": None,
        "customerId": "alice",
        "amount": "24.98",
        "steps": PENDING_STEPS,
        **times(status),
        "ledgers": {"order": None, "payment": None},
    }


async def test_a_running_order_shows_its_progress_and_the_ledgers_effects(
    env: DurableTestEnv,
) -> None:
    with activity_held(env, "PaymentActivity"):
        order_id = await start_order(env, "alice", {"SKU-RED": 2, "SKU-BLUE": 1})
        status = await env.wait_for(
            order_id,
            "Running",
            until=lambda s: s.custom_status["steps"]["order"]["status"] == "succeeded",
        )
        answer = await get_order(env, order_id)
    finished = await env.wait_for(order_id, "Completed")

    assert answer.json() == {
        "orderId": order_id,
        "runtimeStatus": "Running",
        "outcome": "running",
        "stage": "step_settled",
        "customerId": "alice",
        "amount": "24.98",
        "steps": {**PENDING_STEPS, "order": {"status": "succeeded", "reason": None}},
        **times(status),
        "ledgers": {
            "order": {"status": "reserved", "amount": "24.98", "reason": None},
            "payment": None,
        },
    }
    assert finished.output["outcome"] == "completed"


async def test_a_completed_order_shows_the_sagas_result(env: DurableTestEnv) -> None:
    order_id = await start_order(env, "alice", {"SKU-RARE": 1})
    status = await env.wait_for(order_id, "Completed")

    answer = await get_order(env, order_id)

    assert answer.status == 200
    assert answer.json() == {
        "orderId": order_id,
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
        **times(status),
        "ledgers": {
            "order": {"status": "reserved", "amount": "100.00", "reason": None},
            "payment": {"status": "charged", "amount": "100.00", "reason": None},
        },
    }


async def test_a_compensated_order_shows_why_and_what_was_undone(env: DurableTestEnv) -> None:
    order_id = await start_order(env, "bob", {"SKU-RARE": 1})
    await env.wait_for(order_id, "Completed")

    body: dict[str, Any] = (await get_order(env, order_id)).json()

    refusal = body["ledgers"]["payment"]["reason"]
    assert "customer bob has 10.00" in refusal
    assert body["outcome"] == "compensated"
    assert body["steps"] == {
        "order": {"status": "compensated", "reason": "succeeded; compensated"},
        "payment": {"status": "compensated", "reason": f"rejected: {refusal}; compensated"},
    }
    assert body["ledgers"] == {
        "order": {"status": "released", "amount": "100.00", "reason": None},
        "payment": {"status": "rejected", "amount": "100.00", "reason": refusal},
    }
    assert await balance(env, "bob") == "10.00"
    assert await available(env, "SKU-RARE") == 1


def refuse_at_length(order: Any) -> dict[str, Any]:
    """A refusal whose reason is 20,000 characters: one fits in a table row, two do not."""
    return {"ok": False, "reason": "no " * 6_667}


async def test_a_failed_orchestration_shows_the_hosts_reason_and_no_outcome(
    ledger_settings: dict[str, str],
) -> None:
    # A Failed saga, made for real: with both steps' reasons in its status, the saga's history no
    # longer fits in a table row, and the host fails the instance with its reason.
    steps = {"OrderActivity": refuse_at_length, "PaymentActivity": refuse_at_length}
    async with app_env(ledger_settings, activities=steps) as env:
        order_id = await start_order(env, "alice", {"SKU-BLUE": 2})
        failed = await env.wait_for(order_id, "Failed")

        body: dict[str, Any] = (await get_order(env, order_id)).json()

    assert failed.output.startswith("Orchestrator function 'OrderSaga' failed: ")
    assert body["runtimeStatus"] == "Failed"
    assert body["outcome"] is None
    assert body["error"] == failed.output
    assert body["amount"] == "10.00"
    assert body["steps"] == PENDING_STEPS


async def test_unreachable_storage_is_a_503_with_an_error_document(
    unreachable_storage: dict[str, str],
) -> None:
    async with scripted_saga_env(serve=True, settings=unreachable_storage) as env:
        await start_saga(env)
        await env.wait_for(INSTANCE, "Completed")  # the saga's steps are scripted: no storage

        reads = [
            await get_order(env, INSTANCE),
            await get_customer(env, "alice"),
            await get_inventory(env, "SKU-RED"),
        ]

    for answer in reads:
        assert answer.status == 503
        assert answer.headers["Retry-After"] == "5"
        [error] = answer.json()["errors"]
        assert error["field"] == ""
        assert error["message"].startswith("table storage did not answer: ")
        assert error["message"].endswith("; try again shortly")
