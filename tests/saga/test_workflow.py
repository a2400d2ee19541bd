"""OrderSaga through the real SDK replay, fed histories shaped as the host sends them."""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from OrderSaga import main
from saga.models import Outcome, SagaPolicy, StepResult, StepStatus
from saga.workflow import (
    Step,
    failure_text,
    final_outcome,
    forward_result,
    needs_compensation,
    rollback_result,
)
from tests.saga.history import (
    CALL_ACTIVITY_WITH_RETRY,
    CREATE_TIMER,
    START,
    TIMER_CREATED,
    TIMER_FIRED,
    WHEN_ALL,
    WHEN_ANY,
    Attempt,
    Hangs,
    Raises,
    Returns,
    Run,
    context_json,
    fire_at,
    invoke,
    leaves,
    orchestrator_completed,
    orchestrator_started,
    play,
    start_history,
    task_completed,
    task_scheduled,
    timer_created,
)

ORDER = {
    "orderId": "order-1",
    "customerId": "alice",
    "lines": [{"sku": "apple", "quantity": 2, "unitPrice": "1.50"}],
    "amount": "3.00",
}
POLICY = {
    "stepRetryAttempts": 3,
    "stepRetryIntervalMs": 1000,
    "compensationRetryAttempts": 4,
    "compensationRetryIntervalMs": 2000,
    "stepDeadlineSeconds": 60,
}
SAGA_INPUT = json.dumps({"order": ORDER, "policy": POLICY})

OK = Returns({"ok": True, "reason": None})
FORWARD = ("OrderActivity", "PaymentActivity")
ROLLBACKS = ("RollbackOrderActivity", "RollbackPaymentActivity")


def rejected(reason: str, after: float = 1.0) -> Returns:
    return Returns({"ok": False, "reason": reason}, after)


def saga(together: float = 0, **answers: Sequence[Attempt]) -> Run:
    """Play OrderSaga; activities not named answer ok at once."""
    script = {name: [OK] for name in FORWARD + ROLLBACKS} | answers
    return play(main, SAGA_INPUT, script, together=together)


def all_leaves(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(leaves(state["actions"][0]))


def scheduled_names(state: Mapping[str, Any]) -> list[str]:
    return [leaf["functionName"] for leaf in all_leaves(state) if "functionName" in leaf]


def deadline_timer(state: Mapping[str, Any]) -> Mapping[str, Any]:
    (timer,) = [leaf for leaf in all_leaves(state) if leaf["actionType"] == CREATE_TIMER]
    return timer


def deadline_fired_in(run: Run) -> int | None:
    """The episode the deadline fired in; it is the first timer the saga creates."""
    deadline_id = next(e["EventId"] for e in run.history if e["EventType"] == TIMER_CREATED)
    for episode in run.episodes:
        for delivered in episode.delivered:
            if delivered["EventType"] == TIMER_FIRED and delivered["TimerId"] == deadline_id:
                return episode.index
    return None


def step(run: Run, name: str) -> dict[str, Any]:
    steps: dict[str, dict[str, Any]] = run.output["steps"]
    return steps[name]


# The first episode


def test_first_episode_schedules_both_steps_with_retry_and_the_deadline() -> None:
    state = invoke(main, context_json("order-1", SAGA_INPUT, start_history("order-1", SAGA_INPUT)))

    assert state["isDone"] is False
    assert state["schemaVersion"] == 2
    (actions,) = state["actions"]
    (race,) = actions
    assert race["actionType"] == WHEN_ANY
    both, timer = race["compoundActions"]
    assert both["actionType"] == WHEN_ALL
    retry = {"firstRetryIntervalInMilliseconds": 1000, "maxNumberOfAttempts": 3}
    for wrapper, name in zip(both["compoundActions"], FORWARD, strict=True):
        assert wrapper["actionType"] == WHEN_ALL  # the SDK wraps every retryable call
        (call,) = wrapper["compoundActions"]
        assert call["actionType"] == CALL_ACTIVITY_WITH_RETRY
        assert call["functionName"] == name
        assert call["retryOptions"] == retry
        assert json.loads(call["input"]) == ORDER
    assert timer == {
        "actionType": CREATE_TIMER,
        "fireAt": "2026-01-01T00:01:00.000000Z",
        "isCanceled": False,
    }
    assert state["customStatus"] == {
        "stage": "started",
        "outcome": "running",
        "steps": {
            "order": {"status": "pending", "reason": None},
            "payment": {"status": "pending", "reason": None},
        },
    }


def test_a_hand_built_second_episode_starts_both_rollbacks() -> None:
    later = START + timedelta(seconds=2)
    order_text = json.dumps(ORDER)
    history = [
        *start_history("order-1", SAGA_INPUT),
        task_scheduled(START, 0, "OrderActivity", order_text),
        task_scheduled(START, 1, "PaymentActivity", order_text),
        timer_created(START, 2, START + timedelta(minutes=1)),
        orchestrator_completed(START),
        orchestrator_started(later),
        task_completed(later, 0, json.dumps({"ok": False, "reason": "out of stock"})),
        task_completed(later, 1, json.dumps({"ok": True, "reason": None})),
    ]

    state = invoke(main, context_json("order-1", SAGA_INPUT, history))

    assert state["isDone"] is False
    _, rollbacks = state["actions"][0]
    assert scheduled_names({"actions": [[rollbacks]]}) == list(ROLLBACKS)
    assert state["customStatus"]["stage"] == "compensating"
    assert state["customStatus"]["steps"] == {
        "order": {"status": "compensating", "reason": "rejected: out of stock"},
        "payment": {"status": "compensating", "reason": "succeeded"},
    }


def test_the_deadline_comes_from_the_policy_and_the_orchestration_clock() -> None:
    policy = POLICY | {"stepDeadlineSeconds": 2.5}
    text = json.dumps({"order": ORDER, "policy": policy})
    state = invoke(main, context_json("order-1", text, start_history("order-1", text)))
    assert fire_at(deadline_timer(state)["fireAt"]) == START + timedelta(seconds=2.5)


# Outcomes


def test_both_steps_succeed_and_the_saga_completes() -> None:
    run = saga()

    assert run.output == {
        "orderId": "order-1",
        "outcome": "completed",
        "amount": "3.00",
        "steps": {
            "order": {"status": "succeeded", "reason": None},
            "payment": {"status": "succeeded", "reason": None},
        },
    }
    assert run.final["customStatus"]["stage"] == "finished"
    assert run.final["customStatus"]["outcome"] == "completed"
    assert [call.name for call in run.calls] == list(FORWARD)


def test_the_deadline_timer_is_cancelled_when_both_steps_succeed_first() -> None:
    run = saga()
    assert deadline_timer(run.episodes[0].state)["isCanceled"] is False
    assert deadline_timer(run.final)["isCanceled"] is True
    assert deadline_fired_in(run) is None


def test_order_rejected_rolls_back_both_steps() -> None:
    run = saga(OrderActivity=[rejected("apple: only 1 in stock")])

    assert run.output["outcome"] == "compensated"
    assert step(run, "order") == {
        "status": "compensated",
        "reason": "rejected: apple: only 1 in stock; compensated",
    }
    assert step(run, "payment") == {"status": "compensated", "reason": "succeeded; compensated"}
    assert sorted(call.name for call in run.calls[2:]) == sorted(ROLLBACKS)
    assert all(call.input == ORDER for call in run.calls)


def test_payment_rejected_rolls_back_both_steps() -> None:
    run = saga(PaymentActivity=[rejected("insufficient funds: balance 1.00")])

    assert run.output["outcome"] == "compensated"
    assert step(run, "payment")["status"] == "compensated"
    assert step(run, "payment")["reason"] == (
        "rejected: insufficient funds: balance 1.00; compensated"
    )
    assert step(run, "order") == {"status": "compensated", "reason": "succeeded; compensated"}
    assert {call.name for call in run.calls} == set(FORWARD + ROLLBACKS)


def test_both_rejected_still_rolls_back_both() -> None:
    run = saga(OrderActivity=[rejected("out of stock")], PaymentActivity=[rejected("no wallet")])

    assert run.output["outcome"] == "compensated"
    assert step(run, "order")["reason"] == "rejected: out of stock; compensated"
    assert step(run, "payment")["reason"] == "rejected: no wallet; compensated"
    assert len(run.calls_to("RollbackOrderActivity")) == 1
    assert len(run.calls_to("RollbackPaymentActivity")) == 1


def test_a_business_rejection_is_not_retried() -> None:
    run = saga(PaymentActivity=[rejected("insufficient funds")])
    assert len(run.calls_to("PaymentActivity")) == 1


def test_a_step_still_failing_after_its_retries_is_failed_and_compensated() -> None:
    run = saga(PaymentActivity=[Raises("wallet table unavailable")])

    assert [call.attempt for call in run.calls_to("PaymentActivity")] == [1, 2, 3]
    assert run.output["outcome"] == "compensated"
    assert step(run, "payment") == {
        "status": "compensated",
        "reason": "failed: Activity function 'PaymentActivity' failed: wallet table unavailable"
        "; compensated",
    }
    assert step(run, "order")["status"] == "compensated"
    assert {call.name for call in run.calls} == set(FORWARD + ROLLBACKS)


def test_a_step_that_succeeds_after_one_transient_failure_completes_the_saga() -> None:
    run = saga(OrderActivity=[Raises("timeout talking to storage"), OK])

    assert run.output["outcome"] == "completed"
    assert [call.attempt for call in run.calls_to("OrderActivity")] == [1, 2]
    assert not any(call.name in ROLLBACKS for call in run.calls)


def test_a_step_missing_its_deadline_times_out_and_both_roll_back() -> None:
    run = saga(PaymentActivity=[Hangs()])

    fired = deadline_fired_in(run)
    assert fired is not None
    (timer_fired,) = run.episodes[fired].delivered
    assert timer_fired["FireAt"].startswith("2026-01-01T00:01:00")
    rollbacks = [call for call in run.calls if call.name in ROLLBACKS]
    assert sorted(call.name for call in rollbacks) == sorted(ROLLBACKS)
    assert {call.scheduled_in for call in rollbacks} == {fired}
    assert run.output["outcome"] == "compensated"
    assert step(run, "payment") == {
        "status": "compensated",
        "reason": "timed_out: not settled within the 60s step deadline; compensated",
    }
    assert step(run, "order") == {"status": "compensated", "reason": "succeeded; compensated"}


def test_a_step_retrying_past_the_deadline_times_out() -> None:
    run = saga(OrderActivity=[Raises("busy", after=25)])

    assert run.output["outcome"] == "compensated"
    assert step(run, "order")["reason"].startswith("timed_out:")


@pytest.mark.parametrize(
    "answers",
    [
        {"PaymentActivity": [rejected("insufficient funds")]},
        {"OrderActivity": [rejected("out of stock")], "PaymentActivity": [rejected("no wallet")]},
        {
            "OrderActivity": [rejected("out of stock")],
            "RollbackPaymentActivity": [Raises("busy"), OK],
        },
    ],
)
def test_the_deadline_is_cancelled_before_rollbacks_when_no_step_was_retried(
    answers: dict[str, list[Attempt]],
) -> None:
    # Left armed, it would keep the compensated instance Running until the deadline passes.
    run = saga(**answers)
    assert run.output["outcome"] == "compensated"
    compensating = next(
        e for e in run.episodes if "RollbackOrderActivity" in scheduled_names(e.state)
    )
    assert deadline_timer(compensating.state)["isCanceled"] is True
    assert deadline_timer(run.final)["isCanceled"] is True


def test_the_deadline_timer_stays_armed_when_rollbacks_follow_a_retried_step() -> None:
    # A cancelled timer would let the Functions host's replay of the actions start the rollbacks
    # ahead of the payment's retries, numbering tasks differently from this replay.
    run = saga(
        OrderActivity=[rejected("out of stock")],
        PaymentActivity=[Raises("throttled"), OK],
    )
    assert run.output["outcome"] == "compensated"
    assert deadline_timer(run.final)["isCanceled"] is False


def test_a_compensation_that_keeps_failing_ends_compensation_failed_naming_the_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="saga.workflow")
    run = saga(
        PaymentActivity=[rejected("insufficient funds")],
        RollbackPaymentActivity=[Raises("wallet table unavailable")],
        # A slow sibling rollback makes the orchestrator replay past the failure several times.
        RollbackOrderActivity=[Returns({"ok": True}, after=60)],
    )

    assert [call.attempt for call in run.calls_to("RollbackPaymentActivity")] == [1, 2, 3, 4]
    assert run.output["outcome"] == "compensation_failed"
    assert run.final["customStatus"]["outcome"] == "compensation_failed"
    assert step(run, "payment") == {
        "status": "compensation_failed",
        "reason": "payment rollback failed: Activity function 'RollbackPaymentActivity' failed: "
        "wallet table unavailable (payment was rejected: insufficient funds)",
    }
    assert step(run, "order") == {"status": "compensated", "reason": "succeeded; compensated"}
    failure_seen = run.calls_to("RollbackPaymentActivity")[-1].settled_in
    assert failure_seen is not None and failure_seen < len(run.episodes) - 1
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert errors == [f"Saga order-1: {step(run, 'payment')['reason']}"]


def test_a_rollback_that_answers_not_ok_is_a_failed_compensation() -> None:
    run = saga(
        OrderActivity=[rejected("out of stock")],
        RollbackOrderActivity=[rejected("reservation record is corrupt")],
    )

    assert run.output["outcome"] == "compensation_failed"
    assert step(run, "order")["status"] == "compensation_failed"
    assert step(run, "order")["reason"].startswith(
        "order rollback failed: reservation record is corrupt"
    )
    assert len(run.calls_to("RollbackOrderActivity")) == 1


# Waiting for both steps, never failing fast


def rollback_free_episodes(run: Run) -> Iterator[int]:
    for episode in run.episodes:
        if not set(scheduled_names(episode.state)) & set(ROLLBACKS):
            yield episode.index


@pytest.mark.parametrize("together", [0, 5])
def test_no_rollback_starts_while_the_other_step_is_in_flight(together: float) -> None:
    run = saga(
        together,
        OrderActivity=[Raises("storage down", after=0.5)],
        PaymentActivity=[Raises("throttled", after=20), Returns({"ok": True}, after=5)],
    )

    order_failed = max(call.settled_in or 0 for call in run.calls_to("OrderActivity"))
    payment = run.calls_to("PaymentActivity")
    assert [call.attempt for call in payment] == [1, 2]
    payment_settled = payment[-1].settled_in
    assert payment_settled is not None and payment_settled > order_failed
    # Every episode up to the payment's answer scheduled no rollback.
    assert set(range(payment_settled)) <= set(rollback_free_episodes(run))
    assert step(run, "payment") == {"status": "compensated", "reason": "succeeded; compensated"}
    assert run.output["outcome"] == "compensated"


def test_an_early_failure_does_not_lose_the_slower_steps_answer() -> None:
    run = saga(
        PaymentActivity=[Raises("card processor down", after=0.1)],
        OrderActivity=[rejected("apple: only 1 in stock", after=30)],
    )
    assert step(run, "order")["reason"] == "rejected: apple: only 1 in stock; compensated"
    assert step(run, "payment")["reason"].startswith("failed: Activity function 'PaymentActivity'")


def test_a_late_answer_after_the_deadline_changes_nothing() -> None:
    run = saga(
        PaymentActivity=[Returns({"ok": True}, after=90)],  # the deadline is at 60s
        RollbackOrderActivity=[Returns({"ok": True}, after=120)],
    )

    (payment,) = run.calls_to("PaymentActivity")
    # Its answer arrived while the rollbacks were still running.
    assert payment.settled_in is not None and payment.settled_in < len(run.episodes) - 1
    assert step(run, "payment")["reason"] == (
        "timed_out: not settled within the 60s step deadline; compensated"
    )
    assert run.output["outcome"] == "compensated"


def test_late_answers_of_both_steps_after_the_deadline_change_nothing() -> None:
    # Both steps are still in flight at the deadline; the payment then fails for good and the
    # order succeeds, both while the rollbacks still run.
    run = saga(
        OrderActivity=[Returns({"ok": True}, after=90)],
        PaymentActivity=[Raises("throttled", after=20)],
        RollbackPaymentActivity=[Returns({"ok": True}, after=59)],
    )

    assert run.calls_to("PaymentActivity")[-1].attempt == 3
    assert all(call.settled_in is not None for call in run.calls if call.name in FORWARD)
    assert run.output["outcome"] == "compensated"
    assert step(run, "order")["reason"].startswith("timed_out:")
    assert step(run, "payment")["reason"].startswith("timed_out:")


def naive_saga(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    """Waits on each step separately, which the host replays as 'go on after the first one'."""
    retry = df.RetryOptions(1000, 3)
    steps = [context.call_activity_with_retry(name, retry, ORDER) for name in FORWARD]
    pending = list(steps)
    while pending:
        yield context.task_any(pending)
        pending = [task for task in pending if not task.is_completed]
    yield context.task_all([context.call_activity(name, ORDER) for name in ROLLBACKS])
    return "done"


def test_the_harness_rejects_a_saga_the_host_would_replay_differently() -> None:
    # The order settles first; the payment then retries, so DurableTask's replay would start the
    # rollbacks before the payment's retry timer and find that timer's id taken.
    script: dict[str, list[Attempt]] = {
        "OrderActivity": [rejected("out of stock")],
        "PaymentActivity": [Raises("throttled", after=5), OK],
    }
    script |= {name: [OK] for name in ROLLBACKS}
    with pytest.raises(AssertionError, match="non-deterministic replay"):
        play(df.Orchestrator.create(naive_saga), SAGA_INPUT, script)


@pytest.mark.parametrize("together", [0, 5])
def test_both_steps_flaky_at_the_same_moments_still_complete(together: float) -> None:
    flaky: list[Attempt] = [Raises("throttled"), Raises("throttled"), OK]
    run = saga(together, OrderActivity=flaky, PaymentActivity=flaky)

    assert run.output["outcome"] == "completed"
    assert [call.attempt for call in run.calls_to("OrderActivity")] == [1, 2, 3]
    assert [call.attempt for call in run.calls_to("PaymentActivity")] == [1, 2, 3]


def test_a_rollback_that_succeeds_after_transient_failures_compensates() -> None:
    run = saga(
        OrderActivity=[rejected("out of stock")],
        RollbackPaymentActivity=[Raises("busy"), Raises("busy"), OK],
    )

    assert run.output["outcome"] == "compensated"
    assert [call.attempt for call in run.calls_to("RollbackPaymentActivity")] == [1, 2, 3]


# Any mix of answers


DELAYS = st.sampled_from([0.5, 1.0, 20.0, 59.0, 61.0, 90.0])  # around the 60s deadline
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


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    order=st.lists(FORWARD_ANSWERS, min_size=1, max_size=4),
    payment=st.lists(FORWARD_ANSWERS, min_size=1, max_size=4),
    rollback_order=st.lists(ROLLBACK_ANSWERS, min_size=1, max_size=5),
    rollback_payment=st.lists(ROLLBACK_ANSWERS, min_size=1, max_size=5),
    together=st.sampled_from([0, 0, 5, 30]),
)
def test_every_mix_of_answers_ends_consistent(
    order: list[Attempt],
    payment: list[Attempt],
    rollback_order: list[Attempt],
    rollback_payment: list[Attempt],
    together: float,
) -> None:
    run = saga(
        together,
        OrderActivity=order,
        PaymentActivity=payment,
        RollbackOrderActivity=rollback_order,
        RollbackPaymentActivity=rollback_payment,
    )

    assert run.final["isDone"] is True
    assert "error" not in run.final
    statuses = {name: step(run, name)["status"] for name in ("order", "payment")}
    outcome = run.output["outcome"]
    for name in FORWARD:
        assert len(run.calls_to(name)) <= POLICY["stepRetryAttempts"]
    if outcome == "completed":
        assert statuses == {"order": "succeeded", "payment": "succeeded"}
        assert not any(call.name in ROLLBACKS for call in run.calls)
        return
    assert set(statuses.values()) <= {"compensated", "compensation_failed"}
    assert (outcome == "compensation_failed") == ("compensation_failed" in statuses.values())
    for name in ROLLBACKS:
        assert 1 <= len(run.calls_to(name)) <= POLICY["compensationRetryAttempts"]
    first_rollback = min(call.scheduled_in for call in run.calls if call.name in ROLLBACKS)
    fired = deadline_fired_in(run)
    deadline_fired = fired is not None and fired <= first_rollback
    if not deadline_fired:
        forward_calls = [call for call in run.calls if call.name in FORWARD]
        assert all(call.scheduled_in < first_rollback for call in forward_calls)
        assert all(
            call.settled_in is not None and call.settled_in <= first_rollback
            for call in forward_calls
        )


# Progress


def test_custom_status_follows_each_stage() -> None:
    run = saga(
        OrderActivity=[Raises("storage down", after=0.5)],
        PaymentActivity=[rejected("insufficient funds", after=20)],
    )

    stages: list[dict[str, Any]] = []
    for status in run.custom_statuses:
        if not stages or stages[-1] != status:
            stages.append(status)
    assert [status["stage"] for status in stages] == [
        "started",
        "step_settled",
        "compensating",
        "finished",
    ]
    settled = stages[1]["steps"]
    assert settled["order"]["status"] == "failed"
    assert settled["payment"] == {"status": "pending", "reason": None}
    compensating = stages[2]["steps"]
    assert compensating["order"]["status"] == "compensating"
    assert compensating["payment"] == {
        "status": "compensating",
        "reason": "rejected: insufficient funds",
    }
    assert stages[3]["outcome"] == "compensated"
    assert stages[3]["steps"] == run.output["steps"]


# Input


@pytest.mark.parametrize(
    ("input_text", "mentions"),
    [
        (json.dumps({"order": ORDER | {"amount": "3.001"}}), "amount"),
        (json.dumps({"order": ORDER | {"orderId": "a/b"}}), "orderId"),
        (json.dumps({"policy": POLICY}), "order"),
        (None, "SagaInput"),
    ],
)
def test_an_invalid_input_fails_the_orchestration_before_any_step(
    input_text: str | None, mentions: str
) -> None:
    run = play(main, input_text, {})

    assert len(run.episodes) == 1
    assert run.final["isDone"] is False
    assert run.final["actions"] == [[]]
    assert "OrderSaga input is not a valid SagaInput" in run.final["error"]
    assert mentions in run.final["error"]
    assert run.calls == []


def test_the_policy_defaults_when_the_input_has_none() -> None:
    text = json.dumps({"order": ORDER})
    state = invoke(main, context_json("order-1", text, start_history("order-1", text)))
    defaults = SagaPolicy()
    calls = [leaf for leaf in all_leaves(state) if "functionName" in leaf]
    assert {json.dumps(call["retryOptions"]) for call in calls} == {
        json.dumps(
            {
                "firstRetryIntervalInMilliseconds": defaults.stepRetryIntervalMs,
                "maxNumberOfAttempts": defaults.stepRetryAttempts,
            }
        )
    }


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
        steps = {Step.ORDER: succeeded, Step.PAYMENT: StepResult(status=other)}
        assert needs_compensation(steps) is (other is not StepStatus.SUCCEEDED)


def test_rollback_result_keeps_the_story_of_the_step() -> None:
    before = StepResult(status=StepStatus.COMPENSATING, reason="rejected: no stock")
    assert rollback_result(Step.ORDER, before, {"ok": True}) == StepResult(
        status=StepStatus.COMPENSATED, reason="rejected: no stock; compensated"
    )
    failed = rollback_result(Step.PAYMENT, before, Exception("boom \n {details}"))
    assert failed == StepResult(
        status=StepStatus.COMPENSATION_FAILED,
        reason="payment rollback failed: boom (payment was rejected: no stock)",
    )


def test_final_outcome_is_compensation_failed_if_any_rollback_failed() -> None:
    done = StepResult(status=StepStatus.COMPENSATED)
    stuck = StepResult(status=StepStatus.COMPENSATION_FAILED)
    assert final_outcome({Step.ORDER: done, Step.PAYMENT: done}) is Outcome.COMPENSATED
    assert final_outcome({Step.ORDER: done, Step.PAYMENT: stuck}) is Outcome.COMPENSATION_FAILED


def test_failure_text_drops_the_serialized_details() -> None:
    assert failure_text(Exception("Activity function 'A' failed: x \n {\"$type\": 1}")) == (
        "Activity function 'A' failed: x"
    )
    assert failure_text(ValueError("")) == "ValueError"
