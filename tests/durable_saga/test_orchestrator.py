"""A declared saga of two stages on the test kit: the toolkit's semantics, generalised.

BookingSaga (tests/durable_saga/app/booking_saga.py) holds a seat and a room in parallel (the
room with a 30 s deadline of its own), then charges the card (two tries, 5 s apart) and sends a
notice, which has nothing to undo. FencedBookingSaga is the same with refused steps compensated.
Every episode is replayed by the real SDK and checked for determinism by the kit.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable_saga import OPERATOR_DECISION
from tests.durable_saga.bookings import BOOKING, INSTANCE, booking_env, run_booking
from tests.scripted import START, Hangs, Raises, Returns, needs_attention, rejected

SUCCEEDED = {"status": "succeeded", "reason": None}
COMPENSATED = {"status": "compensated", "reason": "succeeded; compensated"}
CARD_FAILED = "failed: Activity function 'ChargeCard' failed:  ServiceError: card network down"


async def test_the_stages_run_in_order_and_the_saga_completes_when_all_succeed() -> None:
    run = await run_booking(HoldRoom=[Returns({"ok": True}, after=10)])

    assert run.output == {
        "outcome": "completed",
        "steps": {"seat": SUCCEEDED, "room": SUCCEEDED, "card": SUCCEEDED, "notice": SUCCEEDED},
        "operatorRetries": 0,
        "resolution": None,
    }
    # The second stage starts only once the first has settled, both steps at once.
    assert run.seconds("HoldSeat") == run.seconds("HoldRoom") == [0]
    assert run.seconds("ChargeCard") == run.seconds("SendNotice") == [10]
    assert run.final.runtime_status == "Completed"
    assert run.final.last_updated_time == START + timedelta(seconds=10)
    assert run.open_work == []
    # The status names the stage the saga is in (statuses are seen as each episode ends).
    assert run.checkpoints("stage", "activeStage") == [
        ("started", "hold"),
        ("step_settled", "hold"),
        ("started", "pay"),
        ("finished", "pay"),
    ]


async def test_compensation_runs_stage_by_stage_in_reverse_with_a_stage_in_parallel() -> None:
    run = await run_booking(
        ChargeCard=[Raises("card network down")],
        RefundCard=[Returns({"ok": True}, after=4)],
    )

    assert run.seconds("ChargeCard") == [0, 5]  # the card's own retries: two tries, 5 s apart
    # The later stage first: the card's refund, and only once it settled the earlier stage's
    # compensations, side by side.
    assert run.seconds("RefundCard") == [5]
    assert run.seconds("ReleaseSeat") == run.seconds("ReleaseRoom") == [9]
    assert run.output["outcome"] == "compensated"
    assert run.output["steps"] == {
        "seat": COMPENSATED,
        "room": COMPENSATED,
        "card": {"status": "compensated", "reason": f"{CARD_FAILED}; compensated"},
        # Nothing to undo: it stays as it ended.
        "notice": SUCCEEDED,
    }
    assert run.checkpoints("stage", "activeStage") == [
        ("started", "hold"),
        ("started", "pay"),
        ("step_settled", "pay"),
        ("compensating", "pay"),
        ("compensating", "hold"),
        ("finished", "hold"),
    ]
    assert run.final.runtime_status == "Completed"
    assert run.open_work == []


@pytest.mark.parametrize(
    ("saga", "refunded", "card"),
    [
        ("BookingSaga", [], {"status": "rejected", "reason": "card declined"}),
        (
            "FencedBookingSaga",
            [0.0],
            {"status": "compensated", "reason": "rejected: card declined; compensated"},
        ),
    ],
)
async def test_a_refused_step_is_compensated_only_when_the_saga_fences_refusals(
    saga: str, refunded: list[float], card: dict[str, str]
) -> None:
    run = await run_booking(
        saga, ChargeCard=[rejected("card declined")], RefundCard=[Returns({"ok": True}, after=2)]
    )

    assert run.seconds("ChargeCard") == [0]  # a refusal is an answer: never retried
    assert run.seconds("RefundCard") == refunded
    released = [2.0] if refunded else [0.0]
    assert run.seconds("ReleaseSeat") == run.seconds("ReleaseRoom") == released
    assert run.output["steps"]["card"] == card
    assert run.output["outcome"] == "compensated"


async def test_nothing_is_decided_before_every_step_of_the_stage_has_settled() -> None:
    run = await run_booking(
        HoldSeat=[rejected("no seat left", after=0.5)],
        HoldRoom=[Returns({"ok": True}, after=20)],
    )

    assert run.seconds("ReleaseRoom") == [20]
    assert run.seconds("ReleaseSeat") == []  # refused and not fenced: nothing to undo
    assert run.seconds("ChargeCard") == run.seconds("SendNotice") == []  # never reached
    assert run.output["steps"] == {
        "seat": {"status": "rejected", "reason": "no seat left"},
        "room": COMPENSATED,
        "card": {"status": "pending", "reason": None},
        "notice": {"status": "pending", "reason": None},
    }


async def test_each_step_keeps_its_own_deadline() -> None:
    run = await run_booking(HoldRoom=[Hangs()], HoldSeat=[Returns({"ok": True}, after=45)])

    # The room is given up at its 30 s deadline; the seat, whose deadline is the saga's 60 s,
    # is waited on until it answers, and only then does the stage decide.
    assert run.scheduled()[:4] == [
        (0, "HoldSeat"),
        (1, "HoldRoom"),
        (2, "timer 00:00:30"),
        (3, "timer 00:01:00"),
    ]
    assert run.seconds("ReleaseSeat") == run.seconds("ReleaseRoom") == [45]
    assert run.step("room") == {
        "status": "compensated",
        "reason": "timed_out: not settled within the 30s step deadline; compensated",
    }
    assert run.progress["outcome"] == "compensated"
    # Decided, but the hanging attempt stays open: DurableTask cannot cancel an activity.
    assert run.final.runtime_status == "Running"
    assert run.open_work == ["activity 'HoldRoom' (1)"]


async def test_an_earlier_stage_waits_while_a_later_ones_compensation_needs_an_operator() -> None:
    async with booking_env(
        ChargeCard=[rejected("card declined")],
        RefundCard=[Raises("ledger offline"), Raises("ledger offline"), Returns({"ok": True})],
    ) as env:
        await env.start("FencedBookingSaga", BOOKING, INSTANCE)
        waiting = await env.wait_for(INSTANCE, "Running", until=needs_attention(0))
        progress = waiting.custom_status
        assert (progress["stage"], progress["activeStage"]) == ("needs_attention", "pay")
        assert progress["attention"]["rollbacks"] == ["card"]
        # Reverse order holds: the first stage's steps are not compensated yet.
        assert progress["steps"]["seat"] == progress["steps"]["room"] == SUCCEEDED
        assert env.calls("ReleaseSeat") == env.calls("ReleaseRoom") == []

        decision = {"action": "retry", "note": None, "operatorRetries": 0}
        await env.raise_event(INSTANCE, OPERATOR_DECISION, decision)
        final = await env.wait_for(INSTANCE, "Completed")

    assert final.output["outcome"] == "compensated"
    assert final.output["operatorRetries"] == 1
    assert final.output["steps"]["seat"] == final.output["steps"]["room"] == COMPENSATED
    assert final.custom_status["activeStage"] == "hold"


async def test_a_resolve_settles_the_failed_compensation_and_earlier_stages_are_undone() -> None:
    async with booking_env(
        ChargeCard=[rejected("card declined")],
        RefundCard=[Raises("ledger offline")],
    ) as env:
        await env.start("FencedBookingSaga", BOOKING, INSTANCE)
        await env.wait_for(INSTANCE, "Running", until=needs_attention(0))
        assert env.calls("ReleaseSeat") == env.calls("ReleaseRoom") == []
        refunds = len(env.calls("RefundCard"))
        decision = {"action": "resolve", "note": "refunded by hand", "operatorRetries": 0}
        await env.raise_event(INSTANCE, OPERATOR_DECISION, decision)
        final = await env.wait_for(INSTANCE, "Completed")

        # The refund put right by hand is not tried again; the first stage is compensated.
        assert len(env.calls("RefundCard")) == refunds
        assert len(env.calls("ReleaseSeat")) == len(env.calls("ReleaseRoom")) == 1

    assert final.output["outcome"] == "resolved_manually"
    assert final.output["resolution"]["note"] == "refunded by hand"
    assert final.output["steps"]["seat"] == final.output["steps"]["room"] == COMPENSATED
    assert final.output["steps"]["card"]["status"] == "compensation_failed"
    assert final.custom_status["activeStage"] == "hold"
