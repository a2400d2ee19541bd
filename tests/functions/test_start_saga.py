"""POST /api/orders on durable_host's test kit: the real StartSaga, the real Durable client speaking
to the engine's RPC API, the saga with its real activities, and the catalog and wallets in the
real Azurite."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_host.testing import DurableTestEnv, HttpResponse, InstanceStatus
from durable_saga.documents import SagaPolicy
from saga.inventory import Inventory
from saga.models import OrderRequest, PricedOrder, SagaInput
from tests.functions.conftest import (
    SETTLE_WITHIN,
    app_env,
    available,
    balance,
    durable_host_unreachable,
    instances,
    orchestrations_held,
    post_order,
)

REFUSED_START = "was refused"


def order_body(order_id: str | None = None, customer: str = "alice", **quantities: int) -> Any:
    items = quantities or {"SKU-RED": 2, "SKU-BLUE": 1}
    body: dict[str, Any] = {
        "customerId": customer,
        "items": [{"sku": sku.replace("_", "-"), "quantity": n} for sku, n in items.items()],
    }
    if order_id is not None:
        body["orderId"] = order_id
    return body


def started_input(status: InstanceStatus) -> SagaInput:
    """The saga's input as the host stored it, decoded as the orchestrator decodes it."""
    assert isinstance(status.input, str), "the client sends the input as JSON text"
    return SagaInput.model_validate_json(status.input)


@pytest.fixture
def order_id() -> str:
    return f"order-{uuid.uuid4().hex[:8]}"


def assert_check_status(env: DurableTestEnv, answer: HttpResponse, instance_id: str) -> None:
    """Accepted, pointing at the order's own status; never at a built-in Durable URL, which on
    Azure carries the host's system key."""
    assert answer.status == 202, answer.text
    status_url = f"{env.base_url}/api/orders/{instance_id}"
    assert answer.headers["Location"] == status_url
    assert answer.headers["Retry-After"] == "5"
    assert answer.json() == {"orderId": instance_id, "statusUri": status_url}
    assert "durabletask" not in answer.text + json.dumps(dict(answer.headers))


def assert_errors(answer: HttpResponse, status: int, fields: list[str]) -> list[str]:
    assert answer.status == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    errors = answer.json()["errors"]
    assert sorted(error["field"] for error in errors) == sorted(fields)
    return [error["message"] for error in errors]


async def runtime_status(env: DurableTestEnv, instance_id: str) -> str | None:
    status = await env.status(instance_id)
    return None if status is None else status.runtime_status


async def execution_id(env: DurableTestEnv, instance_id: str) -> str:
    """Which run of the instance this is: a new start of a finished instance gets a new one."""
    record = await env.engine.get_status(instance_id)
    assert record is not None, instance_id
    return record.execution_id


def refused_starts(caplog: pytest.LogCaptureFixture) -> int:
    """How many starts the host refused because the id was taken meanwhile (StartSaga says so)."""
    return sum(REFUSED_START in record.getMessage() for record in caplog.records)


def another_start_while_pricing(
    monkeypatch: pytest.MonkeyPatch, start: Callable[[], Awaitable[Any]]
) -> None:
    """Run `start` to its end while the next order is being priced: between StartSaga's status
    read, which finds nothing, and its own start. The other start is a real one, through the same
    app and host; only its moment is chosen."""
    loop = asyncio.get_running_loop()
    price = Inventory.price
    fired = threading.Event()

    def price_after_the_other_start(
        inventory: Inventory, request: OrderRequest, order_id: str
    ) -> PricedOrder:
        if not fired.is_set():
            fired.set()
            asyncio.run_coroutine_threadsafe(start(), loop).result(SETTLE_WITHIN)
        return price(inventory, request, order_id)

    monkeypatch.setattr(Inventory, "price", price_after_the_other_start)


async def test_an_order_is_priced_from_the_catalog_and_started_under_its_own_id(
    ledger_settings: dict[str, str], order_id: str
) -> None:
    async with app_env({**ledger_settings, "SAGA_STEP_RETRY_ATTEMPTS": "5"}) as env:
        answer = await post_order(env, order_body(order_id, SKU_RED=2, SKU_BLUE=1))

        assert_check_status(env, answer, order_id)
        assert await instances(env) == {order_id: "OrderSaga"}
        status = await env.wait_for(order_id, "Completed")
        saga_input = started_input(status)
        assert saga_input.order.orderId == order_id
        assert saga_input.order.customerId == "alice"
        assert [
            (line.sku, line.quantity, str(line.unitPrice)) for line in saga_input.order.lines
        ] == [("SKU-RED", 2, "9.99"), ("SKU-BLUE", 1, "5.00")]
        assert str(saga_input.order.amount) == "24.98"
        assert saga_input.policy == SagaPolicy(stepRetryAttempts=5)
        assert json.loads(status.input)["order"]["amount"] == "24.98", "money travels as a string"
        assert status.output["outcome"] == "completed"
        assert await balance(env, "alice") == "975.02"
        assert await available(env, "SKU-RED") == 998


async def test_an_order_without_an_id_gets_a_fresh_one(env: DurableTestEnv) -> None:
    first = await post_order(env, order_body(SKU_RARE=1))
    second = await post_order(env, order_body(SKU_RARE=1))

    generated = first.json()["orderId"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert second.json()["orderId"] != generated
    assert_check_status(env, first, generated)
    assert_check_status(env, second, second.json()["orderId"])
    saga_input = started_input(await env.wait_for(generated, "Completed"))
    assert saga_input.order.orderId == generated
    assert str(saga_input.order.amount) == "100.00"
    assert await instances(env) == {generated: "OrderSaga", second.json()["orderId"]: "OrderSaga"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b"{not json", ["body"]),
        (b"", ["body"]),
        (b"[1, 2]", ["body"]),
        (
            {"customerId": "alice", "items": [{"sku": "SKU-RED", "quantity": 0}]},
            ["items.0.quantity"],
        ),
        (
            {"customerId": "alice", "items": [{"sku": "SKU-RED", "quantity": True}]},
            ["items.0.quantity"],
        ),
        ({"customerId": "alice", "items": []}, ["items"]),
        ({"customerId": "alice", "items": [{"sku": "SKU-RED", "quantity": 1}], "x": 1}, ["x"]),
        (
            {
                "orderId": "a/b",
                "customerId": "@alice",
                "items": [{"sku": "SKU-RED", "quantity": 1}],
            },
            ["customerId", "orderId"],
        ),
    ],
)
async def test_bad_bodies_are_refused_with_field_errors_and_start_nothing(
    env: DurableTestEnv, body: Any, fields: list[str]
) -> None:
    answer = await post_order(env, body)
    with durable_host_unreachable(env):
        without_host = await post_order(env, body)

    assert_errors(answer, 400, fields)
    refused_alone = (without_host.status, without_host.json())
    assert refused_alone == (400, answer.json()), "refused without asking the host"
    assert await instances(env) == {}


async def test_unknown_skus_cannot_be_priced(env: DurableTestEnv, order_id: str) -> None:
    answer = await post_order(env, order_body(order_id, SKU_NOPE=1, SKU_RED=1, SKU_GONE=2))

    messages = assert_errors(answer, 422, ["items.0.sku", "items.2.sku"])
    assert messages == ["unknown sku 'SKU-NOPE'", "unknown sku 'SKU-GONE'"]
    assert await instances(env) == {}
    assert await available(env, "SKU-RED") == 1000


async def test_a_repeated_order_starts_nothing_new(env: DurableTestEnv, order_id: str) -> None:
    with orchestrations_held(env):
        first = await post_order(env, order_body(order_id))
        again = await post_order(env, order_body(order_id))
        assert await runtime_status(env, order_id) == "Pending"
    done = await env.wait_for(order_id, "Completed")
    execution = await execution_id(env, order_id)
    # On a completed instance the host would take a new start and run the saga again.
    after_completion = await post_order(env, order_body(order_id))
    await env.settle()

    assert first.json() == again.json() == after_completion.json()
    assert_check_status(env, again, order_id)
    assert_check_status(env, after_completion, order_id)
    assert await instances(env) == {order_id: "OrderSaga"}
    assert await env.status(order_id) == done
    assert await execution_id(env, order_id) == execution, "the saga was started again"
    assert [len(env.calls(step)) for step in ("OrderActivity", "PaymentActivity")] == [1, 1]
    assert await balance(env, "alice") == "975.02"


@pytest.mark.parametrize(
    "different", [order_body(customer="bob"), order_body(SKU_RED=3), order_body(SKU_RARE=1)]
)
async def test_the_same_order_id_for_a_different_order_conflicts(
    env: DurableTestEnv, order_id: str, different: dict[str, Any]
) -> None:
    await post_order(env, order_body(order_id))
    first = await env.wait_for(order_id, "Completed")

    answer = await post_order(env, {**different, "orderId": order_id})
    await env.settle()

    [message] = assert_errors(answer, 409, ["orderId"])
    assert order_id in message
    assert await instances(env) == {order_id: "OrderSaga"}
    assert await env.status(order_id) == first, "the first order's saga is untouched"
    assert len(env.calls("OrderActivity")) == 1


async def test_losing_the_start_race_to_the_same_order_answers_as_a_repeat(
    env: DurableTestEnv,
    order_id: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    winner: list[HttpResponse] = []

    async def same_order() -> None:
        winner.append(await post_order(env, order_body(order_id)))

    another_start_while_pricing(monkeypatch, same_order)
    with orchestrations_held(env):
        answer = await post_order(env, order_body(order_id))

    [won] = winner
    assert_check_status(env, won, order_id)
    assert_check_status(env, answer, order_id)
    assert refused_starts(caplog) == 1, "the race was not lost"
    assert await instances(env) == {order_id: "OrderSaga"}
    done = await env.wait_for(order_id, "Completed")
    assert done.output["outcome"] == "completed"
    assert [len(env.calls(step)) for step in ("OrderActivity", "PaymentActivity")] == [1, 1]


async def test_losing_the_start_race_to_a_different_order_conflicts(
    env: DurableTestEnv,
    order_id: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    winner: list[HttpResponse] = []

    async def bobs_order() -> None:
        winner.append(await post_order(env, order_body(order_id, customer="bob")))

    another_start_while_pricing(monkeypatch, bobs_order)
    with orchestrations_held(env):
        answer = await post_order(env, order_body(order_id, customer="alice"))

    [won] = winner
    assert_check_status(env, won, order_id)
    assert_errors(answer, 409, ["orderId"])
    assert refused_starts(caplog) == 1, "the race was not lost"
    assert await instances(env) == {order_id: "OrderSaga"}
    saga = await env.wait_for(order_id, "Completed")
    assert started_input(saga).order.customerId == "bob", "the refused start replaced the winner"
    assert len(env.calls("OrderActivity")) == 1


async def test_concurrent_identical_starts_run_one_saga_and_both_get_202(
    env: DurableTestEnv,
    order_id: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    starters = 4
    # Every request has read the status (nothing there yet) before any of them starts the saga.
    all_read = threading.Barrier(starters, timeout=SETTLE_WITHIN)
    price = Inventory.price

    def price_together(inventory: Inventory, request: OrderRequest, order_id: str) -> PricedOrder:
        all_read.wait()
        return price(inventory, request, order_id)

    monkeypatch.setattr(Inventory, "price", price_together)
    with orchestrations_held(env):
        answers = await asyncio.gather(
            *(post_order(env, order_body(order_id)) for _ in range(starters))
        )

    for answer in answers:
        assert_check_status(env, answer, order_id)
    assert refused_starts(caplog) == starters - 1
    assert await instances(env) == {order_id: "OrderSaga"}
    assert (await env.wait_for(order_id, "Completed")).output["outcome"] == "completed"
    assert [len(env.calls(step)) for step in ("OrderActivity", "PaymentActivity")] == [1, 1]
    assert await balance(env, "alice") == "975.02"


async def test_an_unreachable_durable_host_is_a_503_with_an_error_document(
    env: DurableTestEnv, order_id: str
) -> None:
    with durable_host_unreachable(env):
        answer = await post_order(env, order_body(order_id))

    [message] = assert_errors(answer, 503, [""])
    assert "Durable host" in message
    assert answer.headers["Retry-After"] == "5"


async def test_misconfigured_storage_settings_are_reported_not_traced(
    ledger_settings: dict[str, str],
) -> None:
    async with app_env({**ledger_settings, "SAGA_TABLE_PREFIX": "not a prefix"}) as env:
        answer = await post_order(env, order_body())

        [message] = assert_errors(answer, 500, [""])
        assert "SAGA_TABLE_PREFIX" in message
        assert "Traceback" not in message
        assert await instances(env) == {}


order_like_bodies = st.fixed_dictionaries(
    {
        "customerId": st.sampled_from(["alice", "bob", "nobody", "@x", ""]) | st.text(max_size=6),
        "items": st.lists(
            st.fixed_dictionaries(
                {
                    "sku": st.sampled_from(["SKU-RED", "SKU-RARE", "SKU-NOPE", "a/b"]),
                    "quantity": st.integers(-2, 3) | st.booleans() | st.text(max_size=2),
                }
            ),
            max_size=3,
        ),
    },
    optional={
        "orderId": st.sampled_from(["o-1", "o-2", "#", ""]) | st.none(),
        "extra": st.none(),
    },
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=order_like_bodies | st.binary(max_size=40))
async def test_no_body_ever_gets_a_500(env: DurableTestEnv, body: Any) -> None:
    answer = await post_order(env, body)

    assert answer.status in {202, 400, 409, 422}, answer.text
    if answer.status != 202:
        errors = answer.json()["errors"]
        assert errors
        assert all(set(error) == {"field", "message"} for error in errors)


async def test_unreachable_storage_is_a_503_and_starts_nothing(
    unreachable_storage: dict[str, str],
) -> None:
    async with app_env(unreachable_storage) as env:
        answer = await post_order(env, order_body())

        [message] = assert_errors(answer, 503, [""])
        assert message.startswith("table storage did not answer: ")
        assert answer.headers["Retry-After"] == "5"
        assert await instances(env) == {}
