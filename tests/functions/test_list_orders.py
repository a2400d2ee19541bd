"""GET /api/orders through the ListOrders folder's `main`, with a real durableClient payload whose
rpcBaseUrl points where the test says: refusals that need no host, and a host that is down.
(The list against a running host is tested end to end in tests/e2e/test_monitor_api.py.)"""

from __future__ import annotations

import asyncio
import json

import azure.functions as func

from durable_host.azurite import free_port
from tests.functions.conftest import Reply, function, reply
from tests.functions.durable_rpc_server import HOST_URL

LIST_ORDERS = function("ListOrders")


def binding(rpc_base_url: str) -> str:
    """The binding value's members that the list reads, as the host writes them."""
    return json.dumps(
        {
            "taskHubName": "SagaHub",
            "rpcBaseUrl": rpc_base_url,
            "baseUrl": f"{HOST_URL}/runtime/webhooks/durabletask",
            "requiredQueryStringParameters": "code=SYSTEMKEY",
        }
    )


def list_orders(params: dict[str, str], rpc_base_url: str) -> Reply:
    request = func.HttpRequest(
        method="GET", url=f"{HOST_URL}/api/orders", headers={}, params=params, body=b""
    )
    return reply(asyncio.run(LIST_ORDERS.main(request, binding(rpc_base_url))))


def test_the_durable_host_being_unreachable_is_a_503_with_an_error_document() -> None:
    down = f"http://127.0.0.1:{free_port()}/durabletask/"

    answer = list_orders({"top": "10", "code": "the function key"}, down)

    assert answer.status == 503
    assert answer.headers["retry-after"] == "5"
    [error] = answer.body["errors"]
    assert error["field"] == ""
    assert error["message"].startswith("the Durable host did not answer the instance query: ")
    assert error["message"].endswith("; try again shortly")


def test_bad_parameters_are_refused_before_the_host_is_asked() -> None:
    down = f"http://127.0.0.1:{free_port()}/durabletask/"

    answer = list_orders({"top": "500", "outcome": "lost"}, down)

    assert answer.status == 400
    assert [error["field"] for error in answer.body["errors"]] == ["top", "outcome"]
