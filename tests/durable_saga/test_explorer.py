"""The failure-point explorer (durable_saga.testing) on the toolkit's two-stage test sagas, and on
the toolkit broken on purpose: each breakage fails the explorer naming the point and invariant.

BookingSaga holds a seat and a room (30 s deadline) in parallel, then charges the card (two tries,
5 s apart) and sends a notice, which has nothing to undo; FencedBookingSaga also compensates a
refused step.
"""

from __future__ import annotations

import importlib
from collections.abc import Generator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.durable_functions.models.Task import TimerTask

from durable_saga.declaration import Saga
from durable_saga.exploration import (
    Answer,
    Call,
    Checkpoint,
    ExploredRun,
    FailurePoint,
    Fault,
    Invariant,
    violations,
)
from durable_saga.testing import InvariantBroken, explore, failure_points
from tests.durable_saga.app.booking_saga import BOOKING_SAGA, FENCED_BOOKING_SAGA, POLICY
from tests.durable_saga.bookings import APP, BOOKING

START = datetime(2026, 1, 1, tzinfo=UTC)
# The module, which the package's `orchestrator` function hides.
toolkit_orchestrator = importlib.import_module("durable_saga.orchestrator")


def point(name: str, saga: Saga = BOOKING_SAGA) -> FailurePoint:
    return next(p for p in failure_points(saga) if str(p) == name)


async def broken(*names: str) -> str:
    """The explorer's complaint about BookingSaga at those points."""
    with pytest.raises(InvariantBroken) as raised:
        await explore(BOOKING_SAGA, APP, BOOKING, points=[point(name) for name in names])
    return str(raised.value)


def test_every_step_and_every_compensation_is_a_failure_point() -> None:
    assert [str(p) for p in failure_points(BOOKING_SAGA)] == [
        "every step succeeds",
        "seat refused",
        "seat failing every attempt",
        "seat outlasting its deadline",
        "room refused",
        "room failing every attempt",
        "room outlasting its deadline",
        "card refused",
        "card failing every attempt",
        "card outlasting its deadline",
        "notice refused",
        "notice failing every attempt",
        "notice outlasting its deadline",
        # The notice has nothing to undo, so no compensation of it can fail.
        "seat's compensation failing, then retried by an operator",
        "seat's compensation failing, then resolved by an operator",
        "room's compensation failing, then retried by an operator",
        "room's compensation failing, then resolved by an operator",
        "card's compensation failing, then retried by an operator",
        "card's compensation failing, then resolved by an operator",
    ]


@pytest.mark.parametrize("saga", [BOOKING_SAGA, FENCED_BOOKING_SAGA], ids=lambda s: s.name)
async def test_both_booking_sagas_keep_every_invariant_at_every_failure_point(saga: Saga) -> None:
    explored = {str(e.point): e for e in await explore(saga, APP, BOOKING)}

    outcomes = {name: e.outcome for name, e in explored.items()}
    assert outcomes["every step succeeds"] == "completed"
    assert outcomes["card outlasting its deadline"] == "compensated"
    assert outcomes["seat's compensation failing, then retried by an operator"] == "compensated"
    assert outcomes["seat's compensation failing, then resolved by an operator"] == (
        "resolved_manually"
    )
    assert len(explored) == 19
    # A refused card is refunded only by the saga that fences refusals.
    refunds = [c for c in explored["card refused"].run.calls if c.activity == "RefundCard"]
    assert len(refunds) == (1 if saga.fence_refused else 0)
    # The room is given up at its own 30 s deadline, its late answer awaited before completion.
    late = explored["room outlasting its deadline"].run
    assert late.checkpoints[-1].at == START + timedelta(seconds=31)


async def test_a_toolkit_that_compensates_before_the_stage_settled_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasty_waits = toolkit_orchestrator.run_with_retries

    def hasty(
        context: Any, steps: Mapping[str, Any], payload: Any, on_answer: Any
    ) -> Generator[Any, Any, dict[str, Any]]:
        """Stops waiting on a stage as soon as one of its steps is refused: the steps that
        have not answered count as cut off by their deadline, and are compensated at once."""
        answers: dict[str, Any] = {}

        def heard(key: str, answer: Any) -> None:
            on_answer(key, answer)
            answers[key] = answer

        def refused() -> bool:
            return any(isinstance(a, dict) and a.get("ok") is False for a in answers.values())

        waiting = hasty_waits(context, steps, payload, heard)
        try:
            task = next(waiting)
            while not refused():
                task = waiting.send((yield task))
        except StopIteration:
            pass
        return answers

    monkeypatch.setattr(toolkit_orchestrator, "run_with_retries", hasty)

    complaint = await broken("seat refused")

    assert complaint.startswith("1 of 1 failure points broke an invariant:")
    assert (
        "BookingSaga at failure point 'seat refused': invariant 'compensation began only after "
        "every step that ran had settled' broken: ReleaseRoom started at +0s while HoldRoom "
        "(stage hold) was in flight: it answered at +1s, and its deadline was +30s"
    ) in complaint


async def test_a_guard_timer_left_open_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TimerTask, "cancel", lambda _timer: None)

    complaint = await broken("every step succeeds", "seat refused")

    assert complaint.startswith("2 of 2 failure points broke an invariant:")
    # The host starts what follows a wait only once the guard left open fired (the room's,
    # due at its 30 s deadline), and completes the instance only when the last one did.
    assert (
        "'every step succeeds': invariant 'the saga never stood idle: each wait ended by a "
        "retry, a deadline or an operator' broken: nothing ran from +1s to +30s, when "
        "ChargeCard started, and no retry, deadline or operator was due then"
    ) in complaint
    assert (
        "'every step succeeds': invariant 'the instance completed at the virtual instant its "
        "outcome was decided' broken: the outcome was decided at +31s and the last activity "
        "returned at +31s, but the instance completed at +61s"
    ) in complaint
    assert (
        "'seat refused': invariant 'the saga never stood idle: each wait ended by a retry, a "
        "deadline or an operator' broken: nothing ran from +1s to +30s, when ReleaseRoom started"
    ) in complaint


async def test_compensating_the_earlier_stage_first_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compensate = toolkit_orchestrator._Run.compensate

    def forwards(run: Any, stages: Any) -> Any:
        return compensate(run, list(reversed(stages)))

    monkeypatch.setattr(toolkit_orchestrator._Run, "compensate", forwards)

    complaint = await broken("card failing every attempt")

    assert "invariant 'compensations ran in reverse stage order' broken: ReleaseSeat (stage " in (
        complaint
    )


async def test_a_toolkit_that_forgets_to_compensate_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(toolkit_orchestrator, "to_compensate", lambda *_: [])

    complaint = await broken("room refused")

    assert (
        "'room refused': invariant 'every step that may have taken effect was compensated "
        "exactly when the outcome says so' broken: HoldSeat may have taken effect and the saga "
        "ended compensated, so ReleaseSeat must succeed once; it succeeded 0 times (never called)"
    ) in complaint


async def test_a_toolkit_that_ignores_a_failed_stage_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(toolkit_orchestrator, "needs_compensation", lambda _steps: False)

    complaint = await broken("notice refused")

    assert (
        "'notice refused': invariant 'the saga ends with the outcome its failure point calls "
        "for' broken: expected compensated, the instance ended Completed with outcome completed"
    ) in complaint


async def test_an_orchestrator_that_is_not_deterministic_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = iter(range(1000))
    monkeypatch.setattr(Saga, "payload_of", lambda _saga, _input: {"call": next(calls)})

    complaint = await broken("every step succeeds")

    assert "invariant 'every episode replays deterministically' broken: Orchestrator " in (
        complaint
    )
    assert "is not deterministic" in complaint


# Invariants no breakage of the toolkit shows on durable_host (which, like the real host, keeps
# an instance open while anything it started runs), judged on runs written by hand.

PLANS = BOOKING_SAGA.plan(POLICY)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def call(
    order: tuple[int, int], activity: str, step: str, span: tuple[float, float], answer: Answer
) -> Call:
    compensates = activity.startswith(("Release", "Refund"))
    started, ended = order
    return Call(
        activity, step, compensates, started, at(span[0]), False, ended, at(span[1]), answer
    )


HAPPY = [
    call((0, 2), "HoldSeat", "seat", (0, 1), Answer.OK),
    call((1, 3), "HoldRoom", "room", (0, 1), Answer.OK),
    call((4, 6), "ChargeCard", "card", (1, 2), Answer.OK),
    call((5, 7), "SendNotice", "notice", (1, 2), Answer.OK),
]


def judged(calls: list[Call], point: FailurePoint, outcome: str, completed: float) -> list[str]:
    checkpoints = [Checkpoint("Completed", outcome, at(completed))]
    run = ExploredRun(calls, checkpoints, START)
    return [str(v.invariant) for v in violations(BOOKING_SAGA, PLANS, point, run)]


def test_the_happy_run_written_by_hand_keeps_every_invariant() -> None:
    assert judged(HAPPY, FailurePoint(Fault.NONE), "completed", 2) == []


def test_a_retried_answer_and_an_activity_after_completion_are_caught() -> None:
    twice = [*HAPPY, call((8, 9), "SendNotice", "notice", (3, 3), Answer.OK)]
    twice[-1].started_after_completion = True

    assert judged(twice, FailurePoint(Fault.NONE), "completed", 2) == [
        Invariant.ATTEMPTS,
        Invariant.NOTHING_AFTER_COMPLETION,
        Invariant.NO_IDLE_WAIT,
        Invariant.COMPLETED_WHEN_DECIDED,
    ]


def test_a_later_stage_after_a_refusal_is_caught() -> None:
    refused = [call((0, 1), "HoldSeat", "seat", (0, 0), Answer.REFUSE), *HAPPY[1:]]

    assert Invariant.STAGES_IN_ORDER in judged(
        refused, FailurePoint(Fault.REFUSED, "seat"), "compensated", 2
    )
