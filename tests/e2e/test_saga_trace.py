"""The app as `make run` runs it, exporting its spans over OTLP/HTTP to a receiver the test starts
on loopback (bench.otlp_receiver, which decodes each ExportTraceServiceRequest with
opentelemetry-proto): the README's first order arrives as one trace whose root is the order
request, and so does bob's order, which compensates, with its rollbacks after its steps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.http_client import wait_for

from .app_process import DURABLE_HOST
from .conftest import LaunchApp
from .saga_client import SagaApp, new_id, order_body

pytestmark = pytest.mark.e2e

SERVICE = "saga-e2e"


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def traced_app(launch_app: LaunchApp, receiver: OtlpReceiver) -> SagaApp:
    _, app = launch_app(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": SERVICE,
            # Export within a tenth of a second rather than the default five.
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
    )
    return app


def order_trace(receiver: OtlpReceiver, order_id: str, attempts: int) -> list[ReceivedSpan]:
    """The order's trace once its request, its saga span and `attempts` attempts arrived."""

    def arrived() -> list[ReceivedSpan] | None:
        spans = receiver.spans()
        requests = [
            s for s in spans if s.name == "POST /api/orders" and s.attributes["saga.id"] == order_id
        ]
        if len(requests) != 1:
            return None
        trace = [s for s in spans if s.trace_id == requests[0].trace_id]
        sagas = [s for s in trace if s.name == "OrderSaga"]
        done = [s for s in trace if "saga.activity" in s.attributes]
        return trace if len(sagas) == 1 and len(done) == attempts else None

    return wait_for(f"the spans of order {order_id}", arrived, 30)


def check_tree(trace: list[ReceivedSpan]) -> tuple[ReceivedSpan, ReceivedSpan, list[ReceivedSpan]]:
    """The request as the root, the saga under it, every attempt under the saga."""
    [request] = [s for s in trace if s.parent_id is None]
    [saga] = [s for s in trace if s.name == "OrderSaga"]
    attempts = sorted(
        (s for s in trace if s is not request and s is not saga), key=lambda s: s.start
    )
    assert (request.name, request.kind, request.service) == ("POST /api/orders", "SERVER", SERVICE)
    assert saga.parent_id == request.span_id
    assert all(s.parent_id == saga.span_id for s in attempts)
    return request, saga, attempts


def test_the_first_order_is_one_trace_rooted_at_its_request(
    traced_app: SagaApp, receiver: OtlpReceiver
) -> None:
    order_id = new_id("order-traced")
    reply = traced_app.start(order_body(order_id, "alice", ("SKU-RED", 2), ("SKU-BLUE", 1)))
    assert reply.status == 202, str(reply)
    assert traced_app.wait_until_settled(order_id)["outcome"] == "completed"

    request, saga, attempts = check_tree(order_trace(receiver, order_id, 2))
    assert request.attributes["http.response.status_code"] == 202
    assert saga.attributes["saga.outcome"] == "completed"
    assert sorted((s.name, s.attributes["saga.outcome"]) for s in attempts) == [
        ("OrderActivity", "succeeded"),
        ("PaymentActivity", "succeeded"),
    ]


def test_a_compensated_order_is_one_trace_with_its_rollbacks(
    traced_app: SagaApp, receiver: OtlpReceiver
) -> None:
    order_id = new_id("order-traced")
    reply = traced_app.start(order_body(order_id, "bob", ("SKU-RARE", 1)))
    assert reply.status == 202, str(reply)
    assert traced_app.wait_until_settled(order_id)["outcome"] == "compensated"

    _, saga, attempts = check_tree(order_trace(receiver, order_id, 4))
    assert saga.attributes["saga.outcome"] == "compensated"
    steps, rollbacks = attempts[:2], attempts[2:]
    assert sorted((s.name, s.attributes["saga.outcome"]) for s in steps) == [
        ("OrderActivity", "succeeded"),
        ("PaymentActivity", "refused"),
    ]
    assert sorted(s.name for s in rollbacks) == ["RollbackOrderActivity", "RollbackPaymentActivity"]
    assert min(s.start for s in rollbacks) >= max(s.end for s in steps)
    assert not any(s.error for s in attempts), "a refusal is not an error"


def test_durable_host_sends_the_spans_it_holds_when_it_stops(
    launch_app: LaunchApp, receiver: OtlpReceiver
) -> None:
    launcher, app = launch_app(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": SERVICE,
            # Batches leave only every ten minutes: what arrives was sent at the stop.
            "OTEL_BSP_SCHEDULE_DELAY": "600000",
        }
    )
    if launcher.kind != DURABLE_HOST:
        pytest.skip("how Core Tools' Python worker stops is its own")
    order_id = new_id("order-held")
    assert app.start(order_body(order_id, "alice", ("SKU-RED", 1))).status == 202
    assert app.wait_until_settled(order_id)["outcome"] == "completed"
    assert not [s for s in receiver.spans() if s.attributes.get("saga.id") == order_id]

    app.running.stop()

    check_tree(order_trace(receiver, order_id, 2))
