"""OrderSaga on durable_host's test kit: every path, through the real SDK's replay, on virtual time.

The services are scripted (tests/saga/scripted.py). Every episode is checked for replay
determinism by the kit, and the engine numbers the saga's actions as the Functions host does, so
a shape the real host would replay differently fails here. A 60-second deadline and the retry
intervals take virtual time only.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_saga import OPERATOR_DECISION
from durable_saga.decisions import (
    failed_rollbacks,
    failure_text,
    forward_result,
    needs_compensation,
    rollback_result,
)
from durable_saga.documents import StepResult, StepStatus
from saga.models import SagaInput
from saga.workflow import ORDER_SAGA, ORDER_STEP, PAYMENT_STEP
from tests.saga.scripted import (
    FORWARD,
    INSTANCE,
    OK,
    ORDER,
    POLICY,
    ROLLBACKS,
    START,
    Attempt,
    Hangs,
    Raises,
    Returns,
    SagaRun,
    needs_attention,
    rejected,
    run_saga,
    saga_env,
    saga_input,
    start_saga,
)

TIMED_OUT = "timed_out: not settled within the 60s step deadline; compensated"


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


# Completed: both steps succeed


async def test_both_steps_succeed_and_the_saga_completes_in_the_same_episode() -> None:
    run = await run_saga()

    assert run.final.runtime_status == "Completed"
    assert run.output == {
        "orderId": INSTANCE,
        "outcome": "completed",
        "amount": "3.00",
        "steps": {
            "order": {"status": "succeeded", "reason": None},
            "payment": {"status": "succeeded", "reason": None},
        },
        "operatorRetries": 0,
        "resolution": None,
    }
    assert run.progress == {
        "stage": "finished",
        "outcome": "completed",
        "steps": run.output["steps"],
        "attention": None,
    }
    # Decided and completed at once: no deadline left pending.
    assert run.final.last_updated_time == START
    assert run.open_work == []


async def test_both_steps_start_together_raced_against_a_guard_at_the_deadline() -> None:
    run = await run_saga()

    assert run.scheduled()[:3] == [
        (0, "OrderActivity"),
        (1, "PaymentActivity"),
        (2, "timer 00:01:00"),
    ]
    assert run.seconds("OrderActivity") == run.seconds("PaymentActivity") == [0]
    assert run.calls["RollbackOrderActivity"] == run.calls["RollbackPaymentActivity"] == []


async def test_a_step_that_succeeds_after_transient_failures_completes_the_saga() -> None:
    run = await run_saga(OrderActivity=[Raises("timeout talking to storage"), Raises("again"), OK])

    assert run.output["outcome"] == "completed"
    assert run.seconds("OrderActivity") == [0, 1, 2]  # stepRetryIntervalMs apart
    assert run.final.last_updated_time == at(2)


async def test_the_steps_retry_independently_of_each_other() -> None:
    run = await run_saga(
        OrderActivity=[Raises("storage down", after=0.5), OK],
        PaymentActivity=[Returns({"ok": True, "reason": None}, after=20)],
    )

    # The order's retry does not wait for the slow payment.
    assert run.seconds("OrderActivity") == [0, 1.5]
    assert run.output["outcome"] == "completed"
    assert run.final.last_updated_time == at(20)


async def test_both_steps_flaky_at_the_same_moments_still_complete() -> None:
    flaky: list[Attempt] = [Raises("throttled"), Raises("throttled"), OK]
    run = await run_saga(OrderActivity=flaky, PaymentActivity=flaky)

    assert run.output["outcome"] == "completed"
    assert run.seconds("OrderActivity") == run.seconds("PaymentActivity") == [0, 1, 2]


# Compensated: a step did not succeed


async def test_an_order_refusal_rolls_back_both_steps_and_completes_at_once() -> None:
    run = await run_saga(OrderActivity=[rejected("apple: only 1 in stock")])

    assert run.output["outcome"] == "compensated"
    assert run.step("order") == {
        "status": "compensated",
        "reason": "rejected: apple: only 1 in stock; compensated",
    }
    assert run.step("payment") == {"status": "compensated", "reason": "succeeded; compensated"}
    assert run.seconds("RollbackOrderActivity") == run.seconds("RollbackPaymentActivity") == [0]
    assert run.final.last_updated_time == START
    assert run.open_work == []


async def test_a_refused_payment_is_not_retried_and_both_roll_back() -> None:
    run = await run_saga(PaymentActivity=[rejected("insufficient funds: balance 1.00")])

    assert run.seconds("PaymentActivity") == [0]
    assert run.output["outcome"] == "compensated"
    assert run.step("payment")["reason"] == (
        "rejected: insufficient funds: balance 1.00; compensated"
    )
    assert run.step("order") == {"status": "compensated", "reason": "succeeded; compensated"}


async def test_both_refused_still_rolls_back_both() -> None:
    run = await run_saga(
        OrderActivity=[rejected("out of stock")], PaymentActivity=[rejected("no wallet")]
    )

    assert run.output["outcome"] == "compensated"
    assert run.step("order")["reason"] == "rejected: out of stock; compensated"
    assert run.step("payment")["reason"] == "rejected: no wallet; compensated"
    assert run.seconds("RollbackOrderActivity") == run.seconds("RollbackPaymentActivity") == [0]


async def test_a_step_still_failing_after_its_retries_is_compensated_without_waiting() -> None:
    run = await run_saga(PaymentActivity=[Raises("wallet table unavailable")])

    assert run.seconds("PaymentActivity") == [0, 1, 2]
    assert run.output["outcome"] == "compensated"
    assert run.step("payment") == {
        "status": "compensated",
        "reason": "failed: Activity function 'PaymentActivity' failed:  ServiceError: "
        "wallet table unavailable; compensated",
    }
    # Completed right after the rollbacks, not when the 60 s deadline passes.
    assert run.final.runtime_status == "Completed"
    assert run.final.last_updated_time == at(2)
    assert run.open_work == []


async def test_no_rollback_starts_while_the_other_step_is_in_flight() -> None:
    run = await run_saga(
        OrderActivity=[rejected("out of stock", after=0.5)],
        PaymentActivity=[Raises("throttled", after=20), Returns({"ok": True}, after=5)],
    )

    assert run.seconds("PaymentActivity") == [0, 21]
    assert run.seconds("RollbackOrderActivity") == run.seconds("RollbackPaymentActivity") == [26]
    assert run.step("payment") == {"status": "compensated", "reason": "succeeded; compensated"}


async def test_an_early_failure_does_not_lose_the_slower_steps_answer() -> None:
    run = await run_saga(
        PaymentActivity=[Raises("card processor down", after=0.1)],
        OrderActivity=[rejected("apple: only 1 in stock", after=30)],
    )
    assert run.step("order")["reason"] == "rejected: apple: only 1 in stock; compensated"
    assert run.step("payment")["reason"].startswith("failed: Activity function 'PaymentActivity'")


# The deadline


async def test_a_step_missing_its_deadline_times_out_and_both_roll_back() -> None:
    run = await run_saga(PaymentActivity=[Hangs()])

    assert run.seconds("RollbackOrderActivity") == run.seconds("RollbackPaymentActivity") == [60]
    assert run.step("payment") == {"status": "compensated", "reason": TIMED_OUT}
    assert run.step("order") == {"status": "compensated", "reason": "succeeded; compensated"}
    assert run.progress["outcome"] == "compensated"
    # Decided, but the hanging attempt is still open: the host keeps the instance Running until
    # that attempt returns (DurableTask cannot cancel an activity).
    assert run.final.runtime_status == "Running"
    assert run.progress["stage"] == "finished"
    assert run.open_work == ["activity 'PaymentActivity' (1)"]


async def test_a_late_answer_after_the_deadline_changes_nothing_and_then_completes() -> None:
    run = await run_saga(
        PaymentActivity=[Returns({"ok": True, "reason": None}, after=90)],  # the deadline is 60s
        until_completed=True,
    )

    assert run.step("payment")["reason"] == TIMED_OUT
    assert run.output["outcome"] == "compensated"
    # The instance completes when the late attempt returns, not before.
    assert run.final.runtime_status == "Completed"
    assert run.final.last_updated_time == at(90)


async def test_the_deadline_cancels_a_pending_retry_and_the_saga_completes_at_once() -> None:
    run = await run_saga({"stepRetryIntervalMs": 40_000}, OrderActivity=[Raises("busy")])

    assert run.seconds("OrderActivity") == [0, 40]  # the next retry would be at 80
    assert run.step("order")["reason"] == TIMED_OUT
    assert run.final.runtime_status == "Completed"
    assert run.final.last_updated_time == at(60)
    assert run.open_work == []


async def test_late_answers_of_both_steps_after_the_deadline_change_nothing() -> None:
    run = await run_saga(
        OrderActivity=[Returns({"ok": True}, after=90)],
        PaymentActivity=[Raises("throttled", after=20)],
        RollbackPaymentActivity=[Returns({"ok": True}, after=59)],
        until_completed=True,
    )

    # Attempts at 0 and 21; the third, at 42, still runs when the deadline passes at 60.
    assert run.seconds("PaymentActivity") == [0, 21, 42]
    assert run.output["outcome"] == "compensated"
    assert run.step("order")["reason"] == TIMED_OUT
    assert run.step("payment")["reason"] == TIMED_OUT
    assert run.final.runtime_status == "Completed"


# Rollbacks that fail, and the operator


async def test_a_rollback_that_succeeds_after_transient_failures_compensates() -> None:
    run = await run_saga(
        OrderActivity=[rejected("out of stock")],
        RollbackPaymentActivity=[Raises("busy"), Raises("busy"), OK],
    )

    assert run.output["outcome"] == "compensated"
    assert run.seconds("RollbackPaymentActivity") == [0, 2, 4]  # compensationRetryIntervalMs
    assert run.final.last_updated_time == at(4)


async def test_a_compensation_that_keeps_failing_waits_for_an_operator(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="durable_saga.orchestrator")
    run = await run_saga(
        PaymentActivity=[rejected("insufficient funds")],
        RollbackPaymentActivity=[Raises("wallet table unavailable")],
        RollbackOrderActivity=[Returns({"ok": True}, after=60)],
    )

    reason = (
        "payment rollback failed: Activity function 'RollbackPaymentActivity' failed:  "
        "ServiceError: wallet table unavailable (payment was rejected: insufficient funds)"
    )
    assert run.seconds("RollbackPaymentActivity") == [0, 2, 4, 6]
    assert run.final.runtime_status == "Running"
    assert run.progress == {
        "stage": "needs_attention",
        "outcome": "compensation_failed",
        "steps": {
            "order": {"status": "compensated", "reason": "succeeded; compensated"},
            "payment": {"status": "compensation_failed", "reason": reason},
        },
        "attention": {"rollbacks": ["payment"], "lastError": reason, "operatorRetries": 0},
    }
    # It waits for an event only: no timer keeps the instance busy.
    assert run.open_work == []
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert errors == [f"Saga {INSTANCE}: {reason}"]


async def test_a_rollback_that_answers_not_ok_waits_for_an_operator() -> None:
    run = await run_saga(
        OrderActivity=[rejected("out of stock")],
        RollbackOrderActivity=[rejected("reservation record is corrupt")],
    )

    assert run.progress["stage"] == "needs_attention"
    assert run.progress["attention"]["rollbacks"] == ["order"]
    assert run.progress["attention"]["lastError"].startswith(
        "order rollback failed: reservation record is corrupt"
    )
    assert run.seconds("RollbackOrderActivity") == [0]  # an answer, not an error: no retry


def decision(action: str, operator_retries: int, note: str | None = None) -> dict[str, Any]:
    return {"action": action, "note": note, "operatorRetries": operator_retries}


async def test_operator_retries_wait_again_while_the_fault_lasts_then_compensate() -> None:
    failing: list[Attempt] = [Raises("wallet table unavailable")] * 8
    async with saga_env(
        OrderActivity=[rejected("out of stock")], RollbackPaymentActivity=[*failing, OK]
    ) as env:
        await start_saga(env)
        await env.wait_for(INSTANCE, "Running", until=needs_attention(0))

        await env.raise_event(INSTANCE, OPERATOR_DECISION, decision("retry", 0))
        waiting = await env.wait_for(INSTANCE, "Running", until=needs_attention(1))
        assert waiting.custom_status["attention"]["rollbacks"] == ["payment"]
        assert len(env.calls("RollbackPaymentActivity")) == 8  # 4 attempts, twice

        await env.raise_event(INSTANCE, OPERATOR_DECISION, decision("retry", 1))
        final = await env.wait_for(INSTANCE, "Completed")
    assert final.output["outcome"] == "compensated"
    assert final.output["operatorRetries"] == 2
    assert final.output["steps"]["payment"] == {
        "status": "compensated",
        "reason": "succeeded; compensated",
    }
    # The order's rollback, which had succeeded, ran once only.
    assert len(env.calls("RollbackOrderActivity")) == 1


async def test_an_operator_resolves_a_saga_by_hand() -> None:
    async with saga_env(
        PaymentActivity=[rejected("insufficient funds")],
        RollbackOrderActivity=[Raises("inventory table unavailable")],
    ) as env:
        await start_saga(env)
        await env.wait_for(INSTANCE, "Running", until=needs_attention(0))
        resolved_at = env.now
        await env.raise_event(
            INSTANCE, OPERATOR_DECISION, decision("resolve", 0, "stock recounted by hand")
        )
        final = await env.wait_for(INSTANCE, "Completed")
    assert final.output["outcome"] == "resolved_manually"
    assert final.output["resolution"] == {
        "note": "stock recounted by hand",
        "resolvedAt": resolved_at.isoformat(),
    }
    assert final.output["steps"]["order"]["status"] == "compensation_failed"
    assert final.custom_status["stage"] == "finished"
    assert final.custom_status["outcome"] == "resolved_manually"


async def test_a_decision_for_an_earlier_wait_or_a_malformed_one_is_ignored() -> None:
    async with saga_env(
        OrderActivity=[rejected("out of stock")],
        RollbackOrderActivity=[Raises("down"), Raises("down"), Raises("down"), Raises("down"), OK],
        RollbackPaymentActivity=[Raises("down")],
    ) as env:
        await start_saga(env)
        first = await env.wait_for(INSTANCE, "Running", until=needs_attention(0))
        assert first.custom_status["attention"]["rollbacks"] == ["order", "payment"]
        await env.raise_event(INSTANCE, OPERATOR_DECISION, decision("retry", 0))
        await env.wait_for(INSTANCE, "Running", until=needs_attention(1))
        # A repeated click meant for the first wait, and a command nobody can read.
        await env.raise_event(INSTANCE, OPERATOR_DECISION, decision("resolve", 0, "stale"))
        await env.raise_event(INSTANCE, OPERATOR_DECISION, {"action": "undo"})
        waiting = await env.wait_for(INSTANCE, "Running", until=needs_attention(1))
        assert waiting.custom_status["attention"]["rollbacks"] == ["payment"]
        await env.raise_event(INSTANCE, OPERATOR_DECISION, decision("resolve", 1, "refunded"))
        final = await env.wait_for(INSTANCE, "Completed")
    assert final.output["outcome"] == "resolved_manually"
    assert final.output["resolution"]["note"] == "refunded"
    assert final.output["steps"]["order"]["status"] == "compensated"


# Progress


async def test_custom_status_follows_each_stage() -> None:
    run = await run_saga(
        OrderActivity=[Raises("storage down", after=0.5)],
        PaymentActivity=[rejected("insufficient funds", after=20)],
    )

    stages: list[dict[str, Any]] = []
    for status in run.statuses:
        progress = status.custom_status
        if progress and (not stages or stages[-1] != progress):
            stages.append(progress)
    assert [stage["stage"] for stage in stages] == [
        "started",
        "step_settled",
        "compensating",
        "finished",
    ]
    settled = stages[1]["steps"]
    assert settled["order"]["status"] == "failed"
    assert settled["payment"] == {"status": "pending", "reason": None}
    assert stages[-1]["outcome"] == "compensated"
    assert stages[-1]["steps"] == run.output["steps"]


# Input


@pytest.mark.parametrize(
    ("saga", "mentions"),
    [
        ({"order": ORDER | {"amount": "3.001"}}, "amount"),
        ({"order": ORDER | {"orderId": "a/b"}}, "orderId"),
        ({"policy": POLICY}, "order"),
        (None, "SagaInput"),
    ],
)
async def test_an_invalid_input_fails_the_orchestration_before_any_step(
    saga: Any, mentions: str
) -> None:
    async with saga_env() as env:
        await env.start("OrderSaga", saga, INSTANCE)
        final = await env.wait_for(INSTANCE)
        assert env.calls() == []
    assert final.runtime_status == "Failed"
    assert "OrderSaga input is not a valid SagaInput" in final.output
    assert mentions in final.output


async def test_the_policy_defaults_when_the_input_has_none() -> None:
    async with saga_env(PaymentActivity=[Raises("down")]) as env:
        await env.start("OrderSaga", {"order": ORDER}, INSTANCE)
        await env.wait_for(INSTANCE, "Completed")
        starts = [(call.at - START).total_seconds() for call in env.calls("PaymentActivity")]
    assert starts == [0, 1, 2]  # SagaPolicy(): 3 attempts, 1000 ms apart


# Any mix of answers


DELAYS = st.sampled_from([0.0, 0.5, 20.0, 59.0, 61.0, 90.0])  # around the 60s deadline
FORWARD_ANSWERS: st.SearchStrategy[Attempt] = st.one_of(
    st.builds(lambda after: Returns({"ok": True}, after), DELAYS),
    st.builds(lambda after: rejected("no", after), DELAYS),
    st.builds(lambda after: Raises("transient", after), DELAYS),
    st.just(Hangs()),
)
ROLLBACK_ANSWERS: st.SearchStrategy[Attempt] = st.one_of(
    st.builds(lambda after: Returns({"ok": True}, after), DELAYS),
    st.builds(lambda after: rejected("cannot", after), DELAYS),
    st.builds(lambda after: Raises("transient", after), DELAYS),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    order=st.lists(FORWARD_ANSWERS, min_size=1, max_size=4),
    payment=st.lists(FORWARD_ANSWERS, min_size=1, max_size=4),
    rollback_order=st.lists(ROLLBACK_ANSWERS, min_size=1, max_size=5),
    rollback_payment=st.lists(ROLLBACK_ANSWERS, min_size=1, max_size=5),
)
async def test_every_mix_of_answers_ends_consistent(
    order: list[Attempt],
    payment: list[Attempt],
    rollback_order: list[Attempt],
    rollback_payment: list[Attempt],
) -> None:
    run = await run_saga(
        OrderActivity=order,
        PaymentActivity=payment,
        RollbackOrderActivity=rollback_order,
        RollbackPaymentActivity=rollback_payment,
    )

    check_consistent(run)


def check_consistent(run: SagaRun) -> None:
    progress = run.progress
    statuses = {name: run.step(name)["status"] for name in ("order", "payment")}
    reasons = [run.step(name)["reason"] or "" for name in ("order", "payment")]
    timed_out = any("not settled within" in reason for reason in reasons)
    outcome = progress["outcome"]
    for name in FORWARD:
        assert len(run.calls[name]) <= POLICY["stepRetryAttempts"]
    # Only a forward attempt still running past the deadline may keep the instance open.
    assert all(work.split("'")[1] in FORWARD for work in run.open_work), run.open_work
    assert timed_out or not run.open_work
    if outcome == "completed":
        assert run.final.runtime_status == "Completed"
        assert statuses == {"order": "succeeded", "payment": "succeeded"}
        assert not any(run.calls[name] for name in ROLLBACKS)
        return
    assert set(statuses.values()) <= {"compensated", "compensation_failed"}
    for name in ROLLBACKS:
        assert 1 <= len(run.calls[name]) <= POLICY["compensationRetryAttempts"]
    first_rollback = min(run.calls[name][0] for name in ROLLBACKS)
    if not timed_out:
        # Every forward attempt started before the first rollback: none was left in flight.
        assert all(started <= first_rollback for name in FORWARD for started in run.calls[name])
    if outcome == "compensation_failed":
        assert progress["stage"] == "needs_attention"
        assert run.final.runtime_status == "Running"
        failed = [name for name in ("order", "payment") if statuses[name] == "compensation_failed"]
        assert progress["attention"]["rollbacks"] == failed
    else:
        assert outcome == "compensated"
        assert "compensation_failed" not in statuses.values()
        assert progress["stage"] == "finished"
        assert (run.final.runtime_status == "Completed") == (not run.open_work)


# The pure decisions


def test_forward_result_reads_the_step_outcome() -> None:
    assert forward_result("OrderActivity", {"ok": True, "reason": None}) == StepResult(
        status=StepStatus.SUCCEEDED
    )
    assert forward_result("OrderActivity", {"ok": False, "reason": "no stock"}) == StepResult(
        status=StepStatus.REJECTED, reason="no stock"
    )
    assert forward_result("OrderActivity", {"ok": False}).reason == "OrderActivity refused"
    failed = forward_result("PaymentActivity", Exception("Activity function 'X' failed: io \n {}"))
    assert failed == StepResult(status=StepStatus.FAILED, reason="Activity function 'X' failed: io")


def test_an_answer_that_is_not_a_step_outcome_counts_as_failed() -> None:
    result = forward_result("PaymentActivity", {"charged": True})
    assert result.status is StepStatus.FAILED
    assert result.reason is not None and "PaymentActivity returned" in result.reason


def test_compensation_is_needed_unless_both_succeeded() -> None:
    succeeded = StepResult(status=StepStatus.SUCCEEDED)
    for other in StepStatus:
        steps = {ORDER_STEP: succeeded, PAYMENT_STEP: StepResult(status=other)}
        assert needs_compensation(steps) is (other is not StepStatus.SUCCEEDED)


def test_rollback_result_keeps_the_story_of_the_step() -> None:
    before = StepResult(status=StepStatus.COMPENSATING, reason="rejected: no stock")
    assert rollback_result(ORDER_STEP, before, {"ok": True}) == StepResult(
        status=StepStatus.COMPENSATED, reason="rejected: no stock; compensated"
    )
    failed = rollback_result(PAYMENT_STEP, before, Exception("boom \n {details}"))
    assert failed == StepResult(
        status=StepStatus.COMPENSATION_FAILED,
        reason="payment rollback failed: boom (payment was rejected: no stock)",
    )


def test_failed_rollbacks_are_named_in_step_order() -> None:
    done = StepResult(status=StepStatus.COMPENSATED)
    stuck = StepResult(status=StepStatus.COMPENSATION_FAILED)
    steps = ORDER_SAGA.steps
    assert failed_rollbacks(steps, {"order": done, "payment": done}) == []
    assert failed_rollbacks(steps, {"payment": stuck, "order": stuck}) == [ORDER_STEP, PAYMENT_STEP]


def test_failure_text_drops_the_serialized_details() -> None:
    assert failure_text(Exception("Activity function 'A' failed: x \n {\"$type\": 1}")) == (
        "Activity function 'A' failed: x"
    )
    assert failure_text(ValueError("")) == "ValueError"


def test_the_saga_input_carries_order_and_policy_as_plain_json() -> None:
    assert json.loads(json.dumps(saga_input())) == {"order": ORDER, "policy": POLICY}
    # The scripted runs start the saga with what StartSaga sends: a SagaInput as plain JSON.
    assert SagaInput.model_validate(saga_input()).model_dump(mode="json") == saga_input()


async def test_a_saga_waiting_for_an_operator_still_says_so_after_a_restart() -> None:
    async with saga_env(
        OrderActivity=[rejected("out of stock")],
        RollbackOrderActivity=[Raises("down"), Raises("down"), Raises("down"), Raises("down"), OK],
    ) as env:
        await start_saga(env)
        before = await env.wait_for(INSTANCE, "Running", until=needs_attention(0))
        calls = len(env.calls())
        await env.restart()  # as after a crash: the status is rebuilt from the task hub
        after = await env.status(INSTANCE)
        assert after is not None
        assert (after.runtime_status, after.custom_status) == ("Running", before.custom_status)
        assert len(env.calls()) == calls  # nothing ran again: it waits for its operator
        await env.raise_event(INSTANCE, OPERATOR_DECISION, decision("retry", 0))
        final = await env.wait_for(INSTANCE, "Completed")
    assert final.output["outcome"] == "compensated"
