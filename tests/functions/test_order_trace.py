"""The order saga as one trace, over HTTP on the test kit: the real StartSaga, the real Durable
client, the saga with its real activities and ledgers in Azurite, the toolkit tracing into an
in-memory exporter. The order request is the trace's root (or a child of the caller's span when
the caller sends a sampled traceparent), the saga its child, each step and rollback attempt the
saga's child."""

from __future__ import annotations

import json

from durable_host.testing import DurableTestEnv
from durable_saga.documents import split_trace_context
from saga.models import SagaInput
from tests.functions.test_start_saga import order_body
from tests.saga.scripted import INSTANCE, Raises, needs_attention, rejected, saga_env, saga_input
from tests.tracing import REQUEST_SPAN, TRACE_ID, Span, Spans, traced, tree

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER = f"00-{CALLER_TRACE}-b7ad6b7169203331"


async def post(env: DurableTestEnv, body: object, traceparent: str | None = None) -> str:
    headers = {"Content-Type": "application/json"}
    if traceparent is not None:
        headers["traceparent"] = traceparent
    answer = await env.request(
        "POST", "/api/orders", body=json.dumps(body).encode(), headers=headers
    )
    assert answer.status == 202, answer.text
    order_id: str = answer.json()["orderId"]
    return order_id


def the_trace(spans: Spans) -> tuple[Span, Span, list[Span]]:
    """The request span, the saga span and the attempts, asserting they make one trace."""
    everything = spans.all()
    [request] = [span for span in everything if span.name == "POST /api/orders"]
    [saga] = [span for span in everything if span.name == "OrderSaga"]
    assert {span.trace_id for span in everything} == {request.trace_id}
    assert request.kind == "SERVER"
    assert saga.parent_id == request.span_id
    attempts = spans.attempts()
    assert all(span.parent_id == saga.span_id for span in attempts)
    return request, saga, attempts


async def test_an_order_is_one_trace_rooted_at_its_request(
    env: DurableTestEnv, spans: Spans
) -> None:
    order_id = await post(env, order_body("order-traced"))
    status = await env.wait_for(order_id, "Completed")

    request, saga, attempts = the_trace(spans)
    assert request.parent_id is None, "no caller's span: the order request is the root"
    assert request["saga.id"] == order_id
    assert request["saga.started"] is True
    assert request["http.response.status_code"] == 202
    children = tree(spans.all())
    assert children["POST /api/orders"] == ["OrderSaga"]
    assert sorted(children["OrderSaga"]) == ["OrderActivity", "PaymentActivity"]
    assert sorted((span["saga.step"], span["saga.outcome"]) for span in attempts) == [
        ("order", "succeeded"),
        ("payment", "succeeded"),
    ]
    assert saga["saga.outcome"] == "completed"
    # The saga's input carries the request span; the order itself is as it always was.
    stored, trace_context = split_trace_context(json.loads(status.input))
    assert trace_context is not None and trace_context.span_id == request.span_id
    assert SagaInput.model_validate(stored).order.orderId == order_id


async def test_a_compensated_order_shows_its_rollbacks_after_its_steps(
    env: DurableTestEnv, spans: Spans
) -> None:
    order_id = await post(env, order_body("order-broke", customer="bob", SKU_RARE=1))
    await env.wait_for(order_id, "Completed")

    _, saga, attempts = the_trace(spans)
    # The steps side by side, then both rollbacks side by side.
    assert [
        sorted((span.name, span["saga.outcome"]) for span in pair)
        for pair in (attempts[:2], attempts[2:])
    ] == [
        [("OrderActivity", "succeeded"), ("PaymentActivity", "refused")],
        [("RollbackOrderActivity", "succeeded"), ("RollbackPaymentActivity", "succeeded")],
    ]
    forward_ended = max(span.end for span in attempts[:2])
    assert all(span.start >= forward_ended for span in attempts[2:])
    assert all(span.error is None for span in attempts), "a refusal is not an error"
    assert saga["saga.outcome"] == "compensated"


async def test_a_sampled_caller_is_continued_and_an_unsampled_one_is_not(
    env: DurableTestEnv, spans: Spans
) -> None:
    sampled = await post(env, order_body("order-sampled"), f"{CALLER}-01")
    unsampled = await post(env, order_body("order-unsampled"), f"{CALLER}-00")
    await env.wait_for(sampled, "Completed")
    await env.wait_for(unsampled, "Completed")

    requests = {span["saga.id"]: span for span in spans.named("POST /api/orders")}
    assert requests[sampled].trace_id == CALLER_TRACE
    # Its parent is the host's span for the request, itself a child of the caller's.
    assert requests[sampled].parent_id is not None
    assert requests[unsampled].trace_id != CALLER_TRACE
    assert requests[unsampled].parent_id is None
    sagas = {span["saga.id"]: span for span in spans.named("OrderSaga")}
    assert {sagas[order].trace_id for order in (sampled, unsampled)} == {
        requests[sampled].trace_id,
        requests[unsampled].trace_id,
    }


async def test_a_repeated_order_is_a_request_linked_to_the_order_it_repeats(
    env: DurableTestEnv, spans: Spans
) -> None:
    order_id = await post(env, order_body("order-twice"))
    await env.wait_for(order_id, "Completed")
    await post(env, order_body("order-twice"))

    first, again = spans.named("POST /api/orders")
    assert (first["saga.started"], again["saga.started"]) == (True, False)
    assert again.trace_id != first.trace_id
    assert again.links == (first.span_id,)
    assert len(spans.named("OrderSaga")) == 1


async def test_an_operators_resolve_is_in_the_orders_trace(spans: Spans) -> None:
    async with saga_env(
        serve=True, OrderActivity=[rejected("out of stock")], RollbackOrderActivity=[Raises("x")]
    ) as env:
        await env.start("OrderSaga", traced(saga_input()), INSTANCE)
        await env.wait_for(INSTANCE, "Running", until=needs_attention(0))
        body = {"action": "resolve", "note": "stock recounted and fixed by hand"}
        reply = await env.request(
            "POST",
            f"/api/orders/{INSTANCE}/compensation",
            json_body=body,
            headers={"traceparent": f"{CALLER}-01"},  # the operator's browser, say
        )
        assert reply.status == 202, reply.text
        await env.wait_for(INSTANCE, "Completed")

    command = spans.one("POST /api/orders/{orderId}/compensation")
    decision = spans.one("OrderSaga operator resolve")
    saga = spans.one("OrderSaga")
    assert command.kind == "SERVER"
    assert {command.trace_id, decision.trace_id, saga.trace_id} == {TRACE_ID}
    # Under the request that started the order, linked to the operator's own trace.
    assert command.parent_id == REQUEST_SPAN
    assert len(command.links) == 1
    assert (command["saga.id"], command["saga.operator.action"]) == (INSTANCE, "resolve")
    assert command["http.response.status_code"] == 202
    # The decision as the saga received it, under the command that sent it.
    assert decision.parent_id == command.span_id
    assert decision["saga.operator.note"] == "stock recounted and fixed by hand"
    assert saga["saga.outcome"] == "resolved_manually"
    assert saga.end >= decision.end
