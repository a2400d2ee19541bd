"""Injected faults: how often they strike, where (before or after the step), and stalls."""

from __future__ import annotations

import dataclasses
import random
from types import MappingProxyType

import pytest

from durable_saga.documents import StepOutcome
from saga.faults import FaultPlan, InjectedFault
from saga.inventory import Inventory
from tests.saga.conftest import OrderFactory


def plan(
    transient: dict[str, float] | None = None, stall: dict[str, float] | None = None
) -> FaultPlan:
    return FaultPlan(
        transient=MappingProxyType(transient or {}),
        stall_seconds=MappingProxyType(stall or {}),
        chance=random.Random(7),
    )


def test_no_plan_runs_the_step_untouched() -> None:
    assert FaultPlan().around("OrderActivity", lambda: "done") == "done"


def test_probability_zero_never_strikes() -> None:
    faults = plan({"OrderActivity": 0.0})

    results = [faults.around("OrderActivity", lambda: "done") for _ in range(200)]

    assert results == ["done"] * 200


def test_probability_one_always_strikes_half_before_and_half_after_the_step() -> None:
    faults = plan({"PaymentActivity": 1.0})
    runs = 0
    messages: list[str] = []

    def step() -> None:
        nonlocal runs
        runs += 1

    for _ in range(200):
        with pytest.raises(InjectedFault) as caught:
            faults.around("PaymentActivity", step)
        messages.append(str(caught.value))

    after = sum("after the step committed" in message for message in messages)
    before = sum("before the step ran" in message for message in messages)
    assert after + before == 200
    assert runs == after  # a fault after the step means the step really ran
    assert 60 < after < 140
    assert all("PaymentActivity" in message for message in messages)


def test_a_fault_for_one_activity_leaves_the_others_alone() -> None:
    faults = plan({"RollbackPaymentActivity": 1.0})

    assert faults.around("RollbackOrderActivity", lambda: "released") == "released"


def test_partial_probability_strikes_about_that_often() -> None:
    faults = plan({"OrderActivity": 0.2})
    struck = 0
    for _ in range(1000):
        try:
            faults.around("OrderActivity", lambda: None)
        except InjectedFault:
            struck += 1

    assert 130 < struck < 270


def test_stall_delays_only_the_named_activity_before_it_runs() -> None:
    events: list[str] = []
    faults = dataclasses.replace(
        plan(stall={"PaymentActivity": 0.3}), sleep=lambda seconds: events.append(f"wait {seconds}")
    )

    def step(name: str) -> str:
        events.append(name)
        return name

    assert faults.around("PaymentActivity", lambda: step("charged")) == "charged"
    assert faults.around("OrderActivity", lambda: step("reserved")) == "reserved"

    assert events == ["wait 0.3", "charged", "reserved"]


def test_a_retry_after_a_fault_past_the_commit_does_not_apply_twice(
    inventory: Inventory, make_order: OrderFactory
) -> None:
    faults = plan({"OrderActivity": 1.0})
    order = make_order("fault-after", "alice", ("SKU-BLUE", 3, "5.00"))
    message = ""
    while "after the step committed" not in message:
        with pytest.raises(InjectedFault) as caught:
            faults.around("OrderActivity", lambda: inventory.reserve_stock(order))
        message = str(caught.value)

    retried = FaultPlan().around("OrderActivity", lambda: inventory.reserve_stock(order))

    assert retried == StepOutcome(ok=True)
    item = inventory.item("SKU-BLUE")
    assert item is not None
    assert item.available == 1000 - 3


def test_the_first_calls_for_each_order_fail_then_the_fault_clears() -> None:
    faults = FaultPlan(first_failures=MappingProxyType({"RollbackPaymentActivity": 2}))
    ran: list[str] = []

    def refund(order_id: str) -> str:
        ran.append(order_id)
        return "done"

    def call(order_id: str) -> str:
        return faults.around("RollbackPaymentActivity", lambda: refund(order_id), order_id)

    for order_id in ("o-1", "o-1"):
        with pytest.raises(InjectedFault, match=r"call [12]; the first 2 fail"):
            call(order_id)
    assert call("o-1") == "done"
    # Another order is counted on its own; other activities are untouched.
    with pytest.raises(InjectedFault):
        call("o-2")
    assert faults.around("PaymentActivity", lambda: "paid", "o-2") == "paid"
    assert ran == ["o-1"]  # a failed call never reached the step
