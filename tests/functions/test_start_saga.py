"""POST /api/orders through StartSaga's `main`: the real Durable client against a local stand-in
for the host's RPC endpoint, with the catalog in the real Azurite."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_host.azurite import free_port
from saga.models import SagaInput, SagaPolicy
from saga.storage import Ledgers, ledgers
from tests.functions.conftest import APP_URL, Reply, function, http_request, reply
from tests.functions.durable_rpc_server import DurableRpcServer, EventLoopThread

START = function("StartSaga")


def post_order(loop: EventLoopThread, host: DurableRpcServer, body: Any) -> Reply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = http_request("POST", "/api/orders", body=raw)
    return reply(loop.run(START.main(request, host.client_binding())))


def order_body(order_id: str | None = None, customer: str = "alice", **quantities: int) -> Any:
    items = quantities or {"SKU-RED": 2, "SKU-BLUE": 1}
    body: dict[str, Any] = {
        "customerId": customer,
        "items": [{"sku": sku.replace("_", "-"), "quantity": n} for sku, n in items.items()],
    }
    if order_id is not None:
        body["orderId"] = order_id
    return body


def started_input(host: DurableRpcServer, index: int = 0) -> SagaInput:
    """The input of a recorded start, decoded as the host and orchestrator would see it."""
    body = host.starts()[index].body
    assert isinstance(body, str), "the client sends the input as JSON text"
    return SagaInput.model_validate_json(body)


@pytest.fixture
def order_id() -> str:
    return f"order-{uuid.uuid4().hex[:8]}"


def assert_check_status(answer: Reply, instance_id: str) -> None:
    """Accepted, pointing at the order's own status; never at a built-in Durable URL, which on
    Azure carries the host's system key (the stand-in host's payload has `code=SYSTEMKEY`)."""
    assert answer.status == 202
    status_url = f"{APP_URL}/api/orders/{instance_id}"
    assert answer.headers["location"] == status_url
    assert answer.headers["retry-after"] == "5"
    assert answer.body == {"orderId": instance_id, "statusUri": status_url}
    assert "SYSTEMKEY" not in json.dumps(answer.body) + json.dumps(answer.headers)


def assert_errors(answer: Reply, status: int, fields: list[str]) -> list[str]:
    assert answer.status == status
    assert answer.headers["content-type"].startswith("application/json")
    assert sorted(error["field"] for error in answer.body["errors"]) == sorted(fields)
    return [error["message"] for error in answer.body["errors"]]


def test_an_order_is_priced_from_the_catalog_and_started_under_its_own_id(
    loop: EventLoopThread,
    host: DurableRpcServer,
    app_ledgers: Ledgers,
    order_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAGA_STEP_RETRY_ATTEMPTS", "5")
    answer = post_order(loop, host, order_body(order_id, SKU_RED=2, SKU_BLUE=1))

    assert_check_status(answer, order_id)
    [start] = host.starts()
    assert start.path == f"/durabletask/orchestrators/OrderSaga/{order_id}"
    saga_input = started_input(host)
    assert saga_input.order.orderId == order_id
    assert saga_input.order.customerId == "alice"
    assert [(line.sku, line.quantity, str(line.unitPrice)) for line in saga_input.order.lines] == [
        ("SKU-RED", 2, "9.99"),
        ("SKU-BLUE", 1, "5.00"),
    ]
    assert str(saga_input.order.amount) == "24.98"
    assert saga_input.policy == SagaPolicy(stepRetryAttempts=5)
    assert json.loads(start.body)["order"]["amount"] == "24.98", "money travels as a string"


def test_an_order_without_an_id_gets_a_fresh_one(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers
) -> None:
    first = post_order(loop, host, order_body(SKU_RARE=1))
    second = post_order(loop, host, order_body(SKU_RARE=1))

    generated = first.body["orderId"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert second.body["orderId"] != generated
    assert_check_status(first, generated)
    assert started_input(host, 0).order.orderId == generated
    assert str(started_input(host, 0).order.amount) == "100.00"
    assert len(host.accepted) == 2


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
def test_bad_bodies_are_refused_with_field_errors_and_start_nothing(
    loop: EventLoopThread,
    host: DurableRpcServer,
    app_ledgers: Ledgers,
    body: Any,
    fields: list[str],
) -> None:
    answer = post_order(loop, host, body)

    assert_errors(answer, 400, fields)
    assert host.calls == []


def test_unknown_skus_cannot_be_priced(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers, order_id: str
) -> None:
    answer = post_order(loop, host, order_body(order_id, SKU_NOPE=1, SKU_RED=1, SKU_GONE=2))

    messages = assert_errors(answer, 422, ["items.0.sku", "items.2.sku"])
    assert messages == ["unknown sku 'SKU-NOPE'", "unknown sku 'SKU-GONE'"]
    assert host.starts() == []


def test_a_repeated_order_starts_nothing_new(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers, order_id: str
) -> None:
    first = post_order(loop, host, order_body(order_id))
    again = post_order(loop, host, order_body(order_id))
    host.advance(order_id, "Completed", output={"done": True})
    after_completion = post_order(loop, host, order_body(order_id))

    assert first.body == again.body == after_completion.body
    assert_check_status(again, order_id)
    assert_check_status(after_completion, order_id)
    assert len(host.starts()) == 1


@pytest.mark.parametrize(
    "different", [order_body(customer="bob"), order_body(SKU_RED=3), order_body(SKU_RARE=1)]
)
def test_the_same_order_id_for_a_different_order_conflicts(
    loop: EventLoopThread,
    host: DurableRpcServer,
    app_ledgers: Ledgers,
    order_id: str,
    different: dict[str, Any],
) -> None:
    post_order(loop, host, order_body(order_id))
    answer = post_order(loop, host, {**different, "orderId": order_id})

    [message] = assert_errors(answer, 409, ["orderId"])
    assert order_id in message
    assert len(host.starts()) == 1


def test_losing_the_start_race_to_the_same_order_answers_as_a_repeat(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers, order_id: str
) -> None:
    post_order(loop, host, order_body(order_id))
    winner_input = json.loads(host.starts()[0].body)
    race_id = order_id + "-race"
    host.claim_after_next_miss(
        race_id, {**winner_input, "order": {**winner_input["order"], "orderId": race_id}}
    )

    answer = post_order(loop, host, order_body(race_id))

    assert_check_status(answer, race_id)
    assert host.accepted == [order_id], "the refused start did not replace the winner"


def test_losing_the_start_race_to_a_different_order_conflicts(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers, order_id: str
) -> None:
    post_order(loop, host, order_body(order_id, customer="bob"))
    bobs_input = json.loads(host.starts()[0].body)
    race_id = order_id + "-race"
    host.claim_after_next_miss(
        race_id, {**bobs_input, "order": {**bobs_input["order"], "orderId": race_id}}
    )

    answer = post_order(loop, host, order_body(race_id, customer="alice"))

    assert_errors(answer, 409, ["orderId"])
    assert host.accepted == [order_id]


def test_concurrent_identical_starts_run_one_saga_and_both_get_202(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers, order_id: str
) -> None:
    binding = host.client_binding()
    raw = json.dumps(order_body(order_id)).encode()

    async def both() -> list[Any]:
        requests = [http_request("POST", "/api/orders", body=raw) for _ in range(4)]
        return list(await asyncio.gather(*(START.main(r, binding) for r in requests)))

    answers = [reply(response) for response in loop.run(both())]

    for answer in answers:
        assert_check_status(answer, order_id)
    assert host.accepted == [order_id]


def test_an_unreachable_durable_host_is_a_503_with_an_error_document(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers, order_id: str
) -> None:
    binding = json.loads(host.client_binding())
    binding["rpcBaseUrl"] = f"http://127.0.0.1:{free_port()}/durabletask/"  # nothing listens
    request = http_request("POST", "/api/orders", body=json.dumps(order_body(order_id)).encode())

    answer = reply(loop.run(START.main(request, json.dumps(binding))))

    [message] = assert_errors(answer, 503, [""])
    assert "Durable host" in message
    assert answer.headers["retry-after"] == "5"


def test_misconfigured_storage_settings_are_reported_not_traced(
    loop: EventLoopThread,
    host: DurableRpcServer,
    app_ledgers: Ledgers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAGA_TABLE_PREFIX", "not a prefix")
    ledgers.cache_clear()

    answer = post_order(loop, host, order_body())

    [message] = assert_errors(answer, 500, [""])
    assert "SAGA_TABLE_PREFIX" in message
    assert "Traceback" not in message
    assert host.starts() == []


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
def test_no_body_ever_gets_a_500(
    loop: EventLoopThread, host: DurableRpcServer, app_ledgers: Ledgers, body: Any
) -> None:
    answer = post_order(loop, host, body)

    assert answer.status in {202, 400, 409, 422}, answer.body
    if answer.status != 202:
        assert answer.body["errors"]
        assert all(set(error) == {"field", "message"} for error in answer.body["errors"])


def test_unreachable_storage_is_a_503_and_starts_nothing(
    loop: EventLoopThread, host: DurableRpcServer, storage_down: None
) -> None:
    answer = post_order(loop, host, order_body())

    [message] = assert_errors(answer, 503, [""])
    assert message.startswith("table storage did not answer: ")
    assert answer.headers["retry-after"] == "5"
    assert host.starts() == []
