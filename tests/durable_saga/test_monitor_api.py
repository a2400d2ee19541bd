"""The toolkit's monitor endpoints for a saga that wrote none of them: BookingSaga's function
folders are one call each into durable_saga.monitor with BOOKING_MONITOR (tests/durable_saga/app),
run on the kit with the real Durable client."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from durable_host.testing import DurableTestEnv
from tests.durable_saga.bookings import ACTIVITIES, APP, BOOKING, INSTANCE
from tests.scripted import Raises, needs_attention, scripted_env
from tests.tracing import TRACE_ID, traced

CARD_FAILED = "failed: Activity function 'ChargeCard' failed:  ServiceError: card network down"
REFUND_FAILED = (
    "card rollback failed: Activity function 'RefundCard' failed:  ServiceError: ledger down "
    f"(card was {CARD_FAILED})"
)
SUCCEEDED = {"status": "succeeded", "reason": None}


@pytest.fixture
async def waiting() -> AsyncIterator[DurableTestEnv]:
    """A booking whose card kept failing and whose refund keeps failing: it waits for an
    operator in its second stage, its first stage not compensated yet. And a FencedBookingSaga
    under another id, which the bookings API does not show."""
    answers = {"ChargeCard": [Raises("card network down")], "RefundCard": [Raises("ledger down")]}
    async with scripted_env(APP, ACTIVITIES, BOOKING, answers, serve=True) as env:
        for saga, instance in (("BookingSaga", INSTANCE), ("FencedBookingSaga", "fenced-1")):
            await env.start(saga, BOOKING, instance)
            await env.wait_for(instance, "Running", until=needs_attention(0))
        yield env


async def get(env: DurableTestEnv, path: str) -> Any:
    answer = await env.request("GET", path)
    assert answer.status == 200, answer.text
    return answer.json()


async def test_the_list_and_one_saga_are_shown_from_the_declaration(
    waiting: DurableTestEnv,
) -> None:
    listed = await get(waiting, "/api/bookings?stage=needs_attention")
    view = await get(waiting, f"/api/bookings/{INSTANCE}")

    assert listed["continuationToken"] is None
    assert [row["bookingId"] for row in listed["bookings"]] == [INSTANCE]
    attention = {"rollbacks": ["card"], "lastError": REFUND_FAILED, "operatorRetries": 0}
    assert view == {
        "bookingId": INSTANCE,
        "runtimeStatus": "Running",
        "outcome": "compensation_failed",
        "stage": "needs_attention",
        "traveller": "alice",
        "steps": {
            "seat": SUCCEEDED,
            "room": SUCCEEDED,
            "card": {"status": "compensation_failed", "reason": REFUND_FAILED},
            "notice": SUCCEEDED,
        },
        "createdTime": view["createdTime"],
        "lastUpdatedTime": view["lastUpdatedTime"],
        "attention": attention,
    }
    assert listed["bookings"][0] == {k: v for k, v in view.items() if k != "attention"}


async def test_another_orchestration_under_an_id_is_not_one_of_these_sagas(
    waiting: DurableTestEnv,
) -> None:
    answer = await waiting.request("GET", "/api/bookings/fenced-1")

    assert answer.status == 404
    assert answer.json() == {"errors": [{"field": "bookingId", "message": "no booking 'fenced-1'"}]}


async def test_the_timeline_has_the_stages_lanes_deadlines_and_actions(
    waiting: DurableTestEnv,
) -> None:
    document = await get(waiting, f"/api/bookings/{INSTANCE}/timeline")

    timeline = document["timeline"]
    assert [(lane["key"], lane["stage"]) for lane in timeline["lanes"]] == [
        ("seat", "hold"),
        ("room", "hold"),
        ("card", "pay"),
        ("notice", "pay"),
        ("card_rollback", "pay"),
    ]
    assert [deadline["stage"] for deadline in timeline["deadlines"]] == ["hold", "pay"]
    assert (document["activeStage"], document["stage"]) == ("pay", "needs_attention")
    actions = {action["name"]: action for action in document["actions"]}
    assert list(actions) == ["retry", "resolve", "terminate"]
    assert actions["retry"]["path"] == f"bookings/{INSTANCE}/compensation"
    assert actions["retry"]["confirm"] == f"Run the failed rollbacks of booking {INSTANCE} again?"
    assert "what its steps already did stays" in actions["terminate"]["confirm"]


async def test_an_operator_resolves_a_booking_over_its_api(waiting: DurableTestEnv) -> None:
    answer = await waiting.request(
        "POST",
        f"/api/bookings/{INSTANCE}/compensation",
        json_body={"action": "resolve", "note": "refunded by hand"},
    )
    assert answer.status == 202, answer.text
    assert answer.json()["bookingId"] == INSTANCE
    await waiting.wait_for(INSTANCE, "Completed")

    view = await get(waiting, f"/api/bookings/{INSTANCE}")
    assert (view["outcome"], view["resolution"]["note"]) == (
        "resolved_manually",
        "refunded by hand",
    )
    # The refund was put right by hand; the first stage's holds were then released.
    assert view["steps"]["seat"]["status"] == view["steps"]["room"]["status"] == "compensated"
    again = await waiting.request(
        "POST", f"/api/bookings/{INSTANCE}/compensation", json_body={"action": "retry"}
    )
    assert again.status == 409
    assert again.json()["errors"][0]["message"].startswith(
        f"booking '{INSTANCE}' is not waiting for an operator"
    )


async def test_a_monitor_page_for_bookings(waiting: DurableTestEnv) -> None:
    answer = await waiting.request("GET", "/api/monitor")

    assert answer.status == 200
    found = re.search(r'<body data-monitor="([^"]*)">', answer.text)
    assert found is not None
    assert json.loads(html.unescape(found[1])) == {
        "collection": "bookings",
        "idField": "bookingId",
        "noun": "booking",
        "exampleId": None,
        "columns": [{"field": "traveller", "label": "Traveller", "kind": "text"}],
        "stages": ["hold", "pay"],
        "steps": [
            {"name": "seat", "label": "Seat"},
            {"name": "room", "label": "Room"},
            {"name": "card", "label": "Card"},
            {"name": "notice", "label": "Notice"},
        ],
        "details": None,
    }
    assert "<script>" in answer.text and 'src="monitor.js"' not in answer.text


TRACE_VIEWER = "https://jaeger.example/trace/{traceId}"


async def test_a_traced_saga_shows_its_trace_id_linked_to_the_viewer() -> None:
    settings = {"SAGA_TRACE_URL": TRACE_VIEWER}
    async with scripted_env(APP, ACTIVITIES, BOOKING, {}, serve=True, settings=settings) as env:
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        await env.start("BookingSaga", BOOKING, "untraced-1")
        await env.wait_for(INSTANCE, "Completed")
        await env.wait_for("untraced-1", "Completed")
        view = await get(env, f"/api/bookings/{INSTANCE}")
        untraced = await get(env, "/api/bookings/untraced-1")

    assert view["traceId"] == TRACE_ID
    assert view["traceUrl"] == f"https://jaeger.example/trace/{TRACE_ID}"
    # A saga started while tracing was off has no trace to show.
    assert "traceId" not in untraced and "traceUrl" not in untraced


async def test_without_a_viewer_the_trace_id_is_shown_unlinked() -> None:
    async with scripted_env(APP, ACTIVITIES, BOOKING, {}, serve=True) as env:
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        await env.wait_for(INSTANCE, "Completed")
        view = await get(env, f"/api/bookings/{INSTANCE}")

    assert view["traceId"] == TRACE_ID
    assert "traceUrl" not in view


@pytest.mark.parametrize("template", ["jaeger.example/trace/{traceId}", "https://jaeger.example/"])
async def test_a_viewer_template_that_cannot_link_is_named_in_a_500(template: str) -> None:
    settings = {"SAGA_TRACE_URL": template}
    async with scripted_env(APP, ACTIVITIES, BOOKING, {}, serve=True, settings=settings) as env:
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        await env.wait_for(INSTANCE, "Completed")
        answer = await env.request("GET", f"/api/bookings/{INSTANCE}")

    assert answer.status == 500
    [error] = answer.json()["errors"]
    assert error["message"].startswith("the app is misconfigured: SAGA_TRACE_URL: ")
    assert "{traceId}" in error["message"]
