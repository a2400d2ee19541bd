"""POST /api/orders/{orderId}/compensation: an operator's way out of a failed compensation.

The app runs in-process on durable_host's test kit with its services scripted: the saga, the
Durable client and the HTTP function are the real ones.
"""

from __future__ import annotations

from durable_host.testing import DurableTestEnv
from tests.saga.scripted import (
    INSTANCE,
    OK,
    Raises,
    needs_attention,
    rejected,
    saga_env,
    start_saga,
)

PATH = f"/api/orders/{INSTANCE}/compensation"


async def stuck_saga(env: DurableTestEnv) -> None:
    await start_saga(env)
    await env.wait_for(INSTANCE, "Running", until=needs_attention(0))


async def test_retry_is_accepted_and_runs_the_failed_rollback_again() -> None:
    failing = [Raises("wallet table unavailable")] * 4
    async with saga_env(
        serve=True, PaymentActivity=[rejected("no money")], RollbackPaymentActivity=[*failing, OK]
    ) as env:
        await stuck_saga(env)
        reply = await env.request("POST", PATH, json_body={"action": "retry"})
        assert reply.status == 202, reply.text
        status_url = f"{env.base_url}/api/orders/{INSTANCE}"
        assert reply.json() == {"orderId": INSTANCE, "action": "retry", "statusUri": status_url}
        assert reply.headers["Location"] == status_url
        final = await env.wait_for(INSTANCE, "Completed")
    assert final.output["outcome"] == "compensated"
    assert final.output["operatorRetries"] == 1


async def test_resolve_ends_the_saga_with_the_note() -> None:
    async with saga_env(
        serve=True, OrderActivity=[rejected("out of stock")], RollbackOrderActivity=[Raises("x")]
    ) as env:
        await stuck_saga(env)
        body = {"action": "resolve", "note": "stock recounted and fixed by hand"}
        reply = await env.request("POST", PATH, json_body=body)
        assert reply.status == 202, reply.text
        final = await env.wait_for(INSTANCE, "Completed")
        # A second command finds nothing waiting any more.
        again = await env.request("POST", PATH, json_body=body)
    assert final.output["outcome"] == "resolved_manually"
    assert final.output["resolution"]["note"] == "stock recounted and fixed by hand"
    assert again.status == 409
    assert again.json() == {
        "errors": [
            {
                "field": "orderId",
                "message": f"order '{INSTANCE}' is not waiting for an operator: its stage is "
                "'finished' (runtimeStatus Completed); only a saga in stage 'needs_attention' "
                "takes a compensation command",
            }
        ]
    }


async def test_bad_commands_are_400_and_unknown_orders_404() -> None:
    async with saga_env(serve=True) as env:
        await start_saga(env)
        await env.wait_for(INSTANCE, "Completed")
        cases = [
            (b"", "body"),
            (b"[1]", "body"),
            (b'{"action": "undo"}', "action"),
            (b'{"action": "resolve"}', "note"),
            (b'{"action": "resolve", "note": ""}', "note"),
            (b'{"action": "resolve", "note": "' + b"x" * 501 + b'"}', "note"),
            (b'{"action": "retry", "extra": 1}', "extra"),
        ]
        for body, field in cases:
            reply = await env.request("POST", PATH, body=body)
            assert reply.status == 400, (body, reply.text)
            assert [error["field"] for error in reply.json()["errors"]] == [field], body
        missing = await env.request(
            "POST", "/api/orders/order-nobody/compensation", json_body={"action": "retry"}
        )
        assert missing.status == 404
        assert missing.json() == {
            "errors": [{"field": "orderId", "message": "no order 'order-nobody'"}]
        }
        completed = await env.request("POST", PATH, json_body={"action": "retry"})
        assert completed.status == 409
