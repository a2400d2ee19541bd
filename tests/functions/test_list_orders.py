"""GET /api/orders on durable_host's test kit, with the app's durableClient binding pointing at a
port where nothing listens: refusals that need no host, and a host that is down.
(The list against a running host is tested end to end in tests/e2e/test_monitor_api.py.)"""

from __future__ import annotations

from urllib.parse import urlencode

from durable_host.testing import DurableTestEnv, HttpResponse
from tests.functions.conftest import durable_host_unreachable


async def list_orders(env: DurableTestEnv, params: dict[str, str]) -> HttpResponse:
    with durable_host_unreachable(env):
        return await env.request("GET", f"/api/orders?{urlencode(params)}")


async def test_the_durable_host_being_unreachable_is_a_503_with_an_error_document(
    env: DurableTestEnv,
) -> None:
    answer = await list_orders(env, {"top": "10", "code": "the function key"})

    assert answer.status == 503
    assert answer.headers["Retry-After"] == "5"
    [error] = answer.json()["errors"]
    assert error["field"] == ""
    assert error["message"].startswith("the Durable host did not answer the instance query: ")
    assert error["message"].endswith("; try again shortly")


async def test_bad_parameters_are_refused_before_the_host_is_asked(env: DurableTestEnv) -> None:
    answer = await list_orders(env, {"top": "500", "outcome": "lost"})

    assert answer.status == 400
    assert [error["field"] for error in answer.json()["errors"]] == ["top", "outcome"]
