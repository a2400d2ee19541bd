"""durable_saga.timeline on real histories of a two-stage saga (BookingSaga, on the kit): lanes
from the declaration, a deadline per stage, and each step's own deadline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from durable_saga.timeline import (
    AttemptStatus,
    Timeline,
    build_timeline,
    deadlines_of,
    timeline_json,
)
from tests.durable_saga.app.booking_saga import BOOKING_SAGA
from tests.durable_saga.bookings import BOOKING, INSTANCE, booking_env
from tests.scripted import START, Raises, Returns


def lanes(timeline: Timeline) -> dict[str, list[AttemptStatus]]:
    return {lane.spec.key: [a.status for a in lane.attempts] for lane in timeline.lanes}


async def history(**answers: Any) -> tuple[list[dict[str, Any]], str]:
    async with booking_env(**answers) as env:
        await env.start("BookingSaga", BOOKING, INSTANCE)
        final = await env.wait_for(INSTANCE, "Completed")
        return await env.history(INSTANCE), final.runtime_status


async def test_every_stage_has_its_lanes_and_its_deadline() -> None:
    events, status = await history(ChargeCard=[Raises("card network down")])

    timeline = build_timeline(BOOKING_SAGA, events, status, START + timedelta(hours=1))

    assert lanes(timeline) == {
        "seat": [AttemptStatus.SUCCEEDED],
        "room": [AttemptStatus.SUCCEEDED],
        "card": [AttemptStatus.FAILED, AttemptStatus.FAILED],
        "notice": [AttemptStatus.SUCCEEDED],
        "seat_rollback": [AttemptStatus.SUCCEEDED],
        "room_rollback": [AttemptStatus.SUCCEEDED],
        "card_rollback": [AttemptStatus.SUCCEEDED],
    }
    assert [lane.spec.label for lane in timeline.lanes][-1] == "Card rollback"
    assert len(timeline.lanes[2].waits) == 1  # the card's 5 s wait between its two tries
    # The hold stage's guard falls at the room's 30 s, the pay stage's at the saga's 60 s.
    assert [(d.stage, d.fire_at - START, d.fired) for d in timeline.deadlines] == [
        ("hold", timedelta(seconds=30), None),
        ("pay", timedelta(seconds=60), None),
    ]
    document = timeline_json(timeline)
    assert [(lane["key"], lane["stage"]) for lane in document["lanes"]][:4] == [
        ("seat", "hold"),
        ("room", "hold"),
        ("card", "pay"),
        ("notice", "pay"),
    ]
    assert [d["stage"] for d in document["deadlines"]] == ["hold", "pay"]
    assert document["deadline"] == {k: document["deadlines"][0][k] for k in document["deadline"]}


async def test_an_answer_is_late_only_after_its_own_steps_deadline() -> None:
    # The room's deadline is 30 s, the seat's the saga's 60 s: the room answers at 40 s, after
    # the saga gave it up; the seat at 45 s, in time, though after the room's deadline fired.
    events, status = await history(
        HoldRoom=[Returns({"ok": True}, after=40)], HoldSeat=[Returns({"ok": True}, after=45)]
    )
    deadlines = deadlines_of(BOOKING_SAGA, BOOKING)

    timeline = build_timeline(BOOKING_SAGA, events, status, START, deadlines)

    assert lanes(timeline)["room"] == [AttemptStatus.LATE]
    assert lanes(timeline)["seat"] == [AttemptStatus.SUCCEEDED]
    assert [(d.fire_at - START, d.fired is not None) for d in timeline.deadlines] == [
        (timedelta(seconds=30), True),
        (timedelta(seconds=60), False),
    ]
