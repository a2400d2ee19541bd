"""durable_saga.declaration and durable_saga.decisions: what a declaration accepts, the policy
each step runs under, and which steps a failed stage compensates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from durable_saga import Retries, Saga, SagaPolicy, Stage, Step
from durable_saga.decisions import to_compensate
from durable_saga.documents import StepResult, StepStatus

SEAT = Step("seat", "HoldSeat", "ReleaseSeat")
CARD = Step("card", "ChargeCard", "RefundCard", retries=Retries(5, timedelta(seconds=2)))
NOTICE = Step("notice", "SendNotice", deadline=timedelta(seconds=5))


class Booking(BaseModel):
    booking: dict[str, str]
    policy: SagaPolicy = SagaPolicy()


def test_a_step_overrides_the_saga_wide_policy_which_the_input_may_override() -> None:
    saga = Saga("Booking", Stage("hold", SEAT), Stage("pay", CARD, NOTICE), input=Booking)
    started = saga.read_input({"booking": {"id": "b-1"}, "policy": {"stepDeadlineSeconds": 90}})

    plan = saga.plan(saga.policy_of(started))

    assert plan["seat"].retries == Retries(3, timedelta(seconds=1))
    assert plan["seat"].compensation_retries == Retries(10, timedelta(seconds=2))
    assert plan["seat"].deadline == timedelta(seconds=90)
    assert plan["card"].retries == Retries(5, timedelta(seconds=2))
    assert plan["notice"].deadline == timedelta(seconds=5)
    assert saga.payload_of(started) == {
        "booking": {"id": "b-1"},
        "policy": SagaPolicy(stepDeadlineSeconds=90).model_dump(mode="json"),
    }


def test_the_payload_is_one_field_of_the_input_when_the_declaration_names_it() -> None:
    saga = Saga("Booking", Stage("hold", SEAT), input=Booking, payload="booking")

    assert saga.payload_of(saga.read_input({"booking": {"id": "b-1"}})) == {"id": "b-1"}


def test_a_bad_input_names_the_saga_and_the_model() -> None:
    saga = Saga("Booking", Stage("hold", SEAT), input=Booking)

    with pytest.raises(ValueError) as refused:
        saga.read_input({"policy": {}})
    assert str(refused.value).startswith("Booking input is not a valid Booking: ")
    assert "booking\n  Field required" in str(refused.value)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Saga("Empty"), "has no stage"),
        (lambda: Stage("hold"), "has no step"),
        (lambda: Saga("Twice", Stage("a", SEAT), Stage("b", SEAT)), "twice: seat"),
        (lambda: Saga("Twice", Stage("a", SEAT), Stage("a", CARD)), "twice: a"),
        (
            lambda: Saga("Twice", Stage("a", SEAT, Step("seat2", "HoldSeat"))),
            "twice: HoldSeat",
        ),
        (lambda: Step("Seat", "HoldSeat"), "lowercase"),
        (lambda: Step("seat", "HoldSeat", deadline=timedelta(days=7)), "six days"),
        (lambda: Step("seat", "HoldSeat", compensation_retries=Retries(2, timedelta(1))), "no "),
        (lambda: Retries(0, timedelta(seconds=1)), "at least once"),
        (lambda: Saga("B", Stage("a", SEAT), input=Booking, payload="trip"), "no field 'trip'"),
    ],
)
def test_a_declaration_that_cannot_run_is_refused_when_it_is_made(
    build: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_lanes_and_titles_come_from_the_steps() -> None:
    saga = Saga("Booking", Stage("hold", SEAT), Stage("pay", CARD, NOTICE))

    assert [(step.name, activity, undoes) for step, activity, undoes in saga.activities()] == [
        ("seat", "HoldSeat", False),
        ("card", "ChargeCard", False),
        ("notice", "SendNotice", False),
        ("seat", "ReleaseSeat", True),
        ("card", "RefundCard", True),
    ]
    assert [step.title for step in saga.steps] == ["Seat", "Card", "Notice"]
    assert Step("car_hire", "HireCar").title == "Car hire"


@pytest.mark.parametrize(
    ("status", "compensated", "fenced"),
    [
        (StepStatus.SUCCEEDED, True, True),
        (StepStatus.FAILED, True, True),
        (StepStatus.TIMED_OUT, True, True),
        (StepStatus.REJECTED, False, True),
        (StepStatus.PENDING, False, False),
    ],
)
def test_what_a_stage_compensates(status: StepStatus, compensated: bool, fenced: bool) -> None:
    results = {"card": StepResult(status=status), "notice": StepResult(status=status)}

    assert to_compensate((CARD, NOTICE), results, fence_refused=False) == (
        [CARD] if compensated else []
    )
    assert to_compensate((CARD, NOTICE), results, fence_refused=True) == ([CARD] if fenced else [])
