"""The monitor's JSON endpoints over real HTTP: the order list (GET /api/orders), a saga's timeline
and payloads, termination, and the page itself.

The module's app runs its own task hub, so the list holds exactly the sagas started here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.http_client import Reply, call, post_json, wait_for

from .conftest import LaunchApp
from .saga_client import SagaApp, new_id, order_body

pytestmark = pytest.mark.e2e

REFUSED = "refused"


@pytest.fixture(scope="module")
def placed(app: SagaApp) -> dict[str, list[str]]:
    """Four completed orders and one that compensates (bob cannot pay for SKU-RARE)."""
    completed = [new_id("listed") for _ in range(4)]
    compensated = [new_id("refused")]
    for order_id in completed:
        assert app.start(order_body(order_id, "alice", ("SKU-BLUE", 1))).status == 202
    assert app.start(order_body(compensated[0], "bob", ("SKU-RARE", 1))).status == 202
    for order_id in completed + compensated:
        app.wait_until_settled(order_id)
    return {"completed": completed, "compensated": compensated}


def ids(pages: list[dict[str, Any]]) -> list[str]:
    return [row["orderId"] for page in pages for row in page["orders"]]


def errors(reply: Reply) -> dict[str, str]:
    assert reply.status == 400, str(reply)
    return {error["field"]: error["message"] for error in reply.json()["errors"]}


def test_the_list_shows_each_order_with_its_saga_state(
    app: SagaApp, placed: dict[str, list[str]]
) -> None:
    reply = app.list_orders(top="100")

    assert reply.status == 200, str(reply)
    assert reply.headers["Content-Type"].startswith("application/json")
    page = reply.json()
    assert page["continuationToken"] is None
    rows = {row["orderId"]: row for row in page["orders"]}
    assert set(rows) == set(placed["completed"] + placed["compensated"])
    refused = rows[placed["compensated"][0]]
    assert set(refused) == {
        "orderId",
        "customerId",
        "amount",
        "runtimeStatus",
        "outcome",
        "stage",
        "steps",
        "createdTime",
        "lastUpdatedTime",
    }
    assert (refused["customerId"], refused["amount"]) == ("bob", "100.00")
    assert (refused["runtimeStatus"], refused["outcome"], refused["stage"]) == (
        "Completed",
        "compensated",
        "finished",
    )
    assert refused["steps"]["payment"]["status"] == "compensated"
    assert REFUSED in refused["steps"]["payment"]["reason"]
    assert datetime.strptime(refused["createdTime"], "%Y-%m-%dT%H:%M:%SZ")
    created = [row["createdTime"] for row in page["orders"]]
    assert created == sorted(created, reverse=True)


def test_pages_of_top_orders_lead_to_each_other_until_the_token_is_null(
    app: SagaApp, placed: dict[str, list[str]]
) -> None:
    pages = app.every_page(top="2")

    assert len(pages) >= 3
    assert all(len(page["orders"]) <= 2 for page in pages)
    listed = ids(pages)
    assert len(listed) == len(set(listed))
    assert set(listed) == set(placed["completed"] + placed["compensated"])


def test_filters_by_outcome_stage_status_and_creation_time(
    app: SagaApp, placed: dict[str, list[str]]
) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    earlier = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    everyone = set(placed["completed"] + placed["compensated"])

    assert ids(app.every_page(outcome="compensated", top="2")) == placed["compensated"]
    assert set(ids(app.every_page(outcome="completed,compensated"))) == everyone
    assert set(ids(app.every_page(stage="finished", runtimeStatus="completed"))) == everyone
    assert ids(app.every_page(stage="needs_attention")) == []
    assert ids(app.every_page(runtimeStatus="Running,Pending")) == []
    assert set(ids(app.every_page(createdFrom=earlier, createdTo=later))) == everyone
    assert app.every_page(createdFrom=later) == [{"orders": [], "continuationToken": None}]


def test_bad_query_values_are_400_naming_each_one(app: SagaApp) -> None:
    found = errors(app.list_orders(top="0", stage="done", createdFrom="last tuesday"))

    assert set(found) == {"top", "stage", "createdFrom"}
    assert found["top"] == "must be a whole number from 1 to 100"


def test_a_continuation_token_the_list_did_not_hand_out_is_400(app: SagaApp) -> None:
    found = errors(app.list_orders(continuationToken="not-a-token"))

    assert found == {"continuationToken": "is not a token this list handed out"}


def test_a_compensated_sagas_timeline_has_a_lane_per_step_and_rollback(
    app: SagaApp, placed: dict[str, list[str]]
) -> None:
    order_id = placed["compensated"][0]

    reply = call("GET", app.url(f"orders/{order_id}/timeline"))

    assert reply.status == 200, str(reply)
    document = reply.json()
    assert (document["runtimeStatus"], document["outcome"], document["stage"]) == (
        "Completed",
        "compensated",
        "finished",
    )
    assert document["actions"] == []
    lanes = {lane["key"]: lane for lane in document["timeline"]["lanes"]}
    assert list(lanes) == ["order", "payment", "order_rollback", "payment_rollback"]
    statuses = {key: [a["status"] for a in lane["attempts"]] for key, lane in lanes.items()}
    assert statuses == {
        "order": ["succeeded"],
        "payment": ["refused"],
        "order_rollback": ["succeeded"],
        "payment_rollback": ["succeeded"],
    }
    assert REFUSED in lanes["payment"]["attempts"][0]["detail"]
    assert document["timeline"]["deadline"]["fired"] is None
    assert [mark["kind"] for mark in document["timeline"]["marks"]] == ["started", "completed"]


def test_payloads_show_the_sagas_input_and_output(
    app: SagaApp, placed: dict[str, list[str]]
) -> None:
    order_id = placed["compensated"][0]

    reply = call("GET", app.url(f"orders/{order_id}/payloads"))

    assert reply.status == 200, str(reply)
    payloads = reply.json()
    assert payloads["input"]["order"]["customerId"] == "bob"
    assert payloads["input"]["policy"]["stepRetryAttempts"] == 3
    assert payloads["output"]["outcome"] == "compensated"
    assert payloads["customStatus"]["stage"] == "finished"


@pytest.mark.parametrize("path", ["timeline", "payloads"])
def test_unknown_and_invalid_orders_are_404_and_400(app: SagaApp, path: str) -> None:
    unknown = call("GET", app.url(f"orders/{new_id('nobody')}/{path}"))
    invalid = call("GET", app.url(f"orders/@entity/{path}"))

    assert unknown.status == 404, str(unknown)
    assert [e["field"] for e in unknown.json()["errors"]] == ["orderId"]
    assert errors(invalid) == {"orderId": "must not start with '@'"}


def test_a_finished_saga_cannot_be_terminated(app: SagaApp, placed: dict[str, list[str]]) -> None:
    order_id = placed["completed"][0]

    reply = post_json(app.url(f"orders/{order_id}/termination"), {"reason": "too late"})
    unknown = post_json(app.url(f"orders/{new_id('nobody')}/termination"), {})
    bad = post_json(app.url(f"orders/{order_id}/termination"), {"why": "no"})

    assert reply.status == 409, str(reply)
    assert reply.json()["errors"] == [
        {"field": "orderId", "message": f"order {order_id!r} is Completed; nothing to stop"}
    ]
    assert unknown.status == 404, str(unknown)
    assert errors(bad) == {"body": 'must be {"reason": "..."} or empty'}


def test_terminating_a_running_saga_stops_it_and_its_timeline_says_why(
    launch_app: LaunchApp,
) -> None:
    launcher, app = launch_app(
        {"SAGA_FAULT_STALL": "PaymentActivity=120", "SAGA_STEP_DEADLINE_SECONDS": "300"}
    )
    try:
        order_id = new_id("stuck")
        assert app.start(order_body(order_id, "alice", ("SKU-RED", 1))).status == 202

        def running_with_payment_in_flight() -> dict[str, Any] | None:
            document: dict[str, Any] = call("GET", app.url(f"orders/{order_id}/timeline")).json()
            lanes = {lane["key"]: lane for lane in document["timeline"]["lanes"]}
            payment = lanes.get("payment", {}).get("attempts", [])
            return document if payment and payment[0]["status"] == "running" else None

        document = wait_for("the payment to be in flight", running_with_payment_in_flight, 60)
        assert [action["name"] for action in document["actions"]] == ["terminate"]

        reply = post_json(app.url(f"orders/{order_id}/termination"), {"reason": "stuck payment"})

        assert reply.status == 202, str(reply)
        assert reply.headers["Location"] == app.url(f"orders/{order_id}")
        assert reply.json() == {"orderId": order_id, "statusUri": app.url(f"orders/{order_id}")}
        view = app.wait_until_settled(order_id)
        assert (view["runtimeStatus"], view["error"]) == ("Terminated", "stuck payment")
        timeline = call("GET", app.url(f"orders/{order_id}/timeline")).json()
        assert timeline["actions"] == []
        marks = [(m["kind"], m["detail"]) for m in timeline["timeline"]["marks"]]
        assert marks[-1] == ("terminated", "stuck payment")
        payment = next(lane for lane in timeline["timeline"]["lanes"] if lane["key"] == "payment")
        assert payment["attempts"][0]["status"] == "abandoned"
    finally:
        # The stalled payment would hold a graceful stop for two minutes; the test is over.
        for running in launcher.runs:
            running.kill()


def test_the_monitor_page_is_one_html_document_that_runs_only_its_own_script(
    app: SagaApp,
) -> None:
    reply = call("GET", app.url("monitor"))

    assert reply.status == 200, str(reply)
    assert reply.headers["Content-Type"].startswith("text/html")
    page = reply.body.decode()
    assert "<title>Saga monitor</title>" in page
    assert 'src="monitor.js"' not in page and 'href="monitor.css"' not in page
    policy = reply.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy
    assert reply.headers["Cache-Control"] == "no-store"
