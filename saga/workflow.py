"""OrderSaga: reserve the stock and charge the wallet together, or undo both.

The orchestrator below reads as the business story; the decisions it takes (what a step's
answer means, whether to compensate, how the saga ends) are small pure functions under it, so
they can be tested without a replay, and how it waits (retries, the deadline, the operator) is in
saga.waiting, whose rules keep the real host's replay in step with the SDK's.

Replay rules hold throughout: no wall clock, no randomness, no settings and no I/O here. The
policy travels in the input, and time comes from `context.current_utc_datetime`.

The saga's lifecycle: both steps run in parallel, each retried on transient errors, until both
have answered or the step deadline passes. If both succeeded, the saga is completed. Otherwise
both rollbacks run in parallel (a rollback of a step that never took effect leaves a fence), with
their own retries. If a rollback still fails, the saga waits in stage needs_attention for an
operator, who either retries the failed rollbacks or resolves the saga by hand. Once the saga has
its outcome the instance completes: nothing it started is left open (see saga.waiting).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

import azure.durable_functions as df
from pydantic import ValidationError

from saga.models import (
    Attention,
    OperatorDecision,
    Outcome,
    Resolution,
    SagaInput,
    SagaPolicy,
    SagaProgress,
    SagaResult,
    SagaSteps,
    StepOutcome,
    StepResult,
    StepStatus,
)
from saga.waiting import Retries, external_event, run_with_retries, settle_all

log = logging.getLogger(__name__)


class Step(StrEnum):
    ORDER = "order"
    PAYMENT = "payment"


# The orchestrator's function name: the order API starts it, and lists and reads only its instances.
ORCHESTRATOR = "OrderSaga"
FORWARD_ACTIVITY = {Step.ORDER: "OrderActivity", Step.PAYMENT: "PaymentActivity"}
ROLLBACK_ACTIVITY = {Step.ORDER: "RollbackOrderActivity", Step.PAYMENT: "RollbackPaymentActivity"}
# The external event an operator's decision arrives as (see saga.http).
OPERATOR_DECISION = "OperatorDecision"


class Stage(StrEnum):
    """Where the saga is, as the custom status tells it."""

    STARTED = "started"
    STEP_SETTLED = "step_settled"
    COMPENSATING = "compensating"
    ROLLBACK_SETTLED = "rollback_settled"
    NEEDS_ATTENTION = "needs_attention"
    FINISHED = "finished"


# The orchestrator yields SDK tasks and is sent their results; the SDK ships no type hints.
Saga = Generator[Any, Any, dict[str, Any]]


def orchestrator_function(context: df.DurableOrchestrationContext) -> Saga:
    """Run both steps in parallel; if either did not succeed, roll both back; if a rollback still
    fails, wait for an operator to retry it or to resolve the saga by hand."""
    saga = read_saga_input(context.get_input(expected_type=dict))
    order, policy = saga.order, saga.policy
    order_json = order.model_dump(mode="json")
    steps: dict[Step, StepResult] = {step: StepResult(status=StepStatus.PENDING) for step in Step}

    def report(
        stage: Stage, outcome: Outcome = Outcome.RUNNING, attention: Attention | None = None
    ) -> None:
        progress = SagaProgress(
            stage=stage, outcome=outcome, steps=saga_steps(steps), attention=attention
        )
        context.set_custom_status(progress.model_dump(mode="json"))

    report(Stage.STARTED)
    deadline = context.current_utc_datetime + timedelta(seconds=policy.stepDeadlineSeconds)

    def forward_answered(step: Step, answer: Any) -> None:
        steps[step] = forward_result(FORWARD_ACTIVITY[step], answer)
        report(Stage.STEP_SETTLED)

    answers = yield from run_with_retries(
        context, FORWARD_ACTIVITY, order_json, step_retries(policy), deadline, forward_answered
    )
    for step in Step:
        if step not in answers:
            steps[step] = timed_out(policy)

    if not needs_compensation(steps):
        report(Stage.FINISHED, Outcome.COMPLETED)
        return saga_result(saga, steps, Outcome.COMPLETED)

    for step in Step:
        steps[step] = compensating(steps[step])
    report(Stage.COMPENSATING)
    compensation_retry = df.RetryOptions(
        policy.compensationRetryIntervalMs, policy.compensationRetryAttempts
    )
    before = dict(steps)

    def rollback_answered(step: Step, answer: Any) -> None:
        steps[step] = rollback_result(step, before[step], answer)
        if steps[step].status is StepStatus.COMPENSATION_FAILED and not context.is_replaying:
            log.error("Saga %s: %s", order.orderId, steps[step].reason)
        report(Stage.ROLLBACK_SETTLED)

    def roll_back(which: list[Step]) -> Generator[Any, Any, None]:
        rollbacks = {
            step: context.call_activity_with_retry(
                ROLLBACK_ACTIVITY[step], compensation_retry, order_json, expected_type=dict
            )
            for step in which
        }
        yield from settle_all(context, rollbacks, rollback_answered)

    yield from roll_back(list(Step))
    operator_retries = 0
    while failed := failed_rollbacks(steps):
        attention = Attention(
            rollbacks=[str(step) for step in failed],
            lastError=last_error(steps, failed),
            operatorRetries=operator_retries,
        )
        report(Stage.NEEDS_ATTENTION, Outcome.COMPENSATION_FAILED, attention)
        decision = yield from operator_decision(context, operator_retries)
        if decision.action == "resolve":
            resolution = Resolution(
                note=decision.note or "", resolvedAt=context.current_utc_datetime.isoformat()
            )
            report(Stage.FINISHED, Outcome.RESOLVED_MANUALLY)
            return saga_result(saga, steps, Outcome.RESOLVED_MANUALLY, operator_retries, resolution)
        operator_retries += 1
        for step in failed:
            steps[step] = before[step]
        report(Stage.COMPENSATING)
        yield from roll_back(failed)
    report(Stage.FINISHED, Outcome.COMPENSATED)
    return saga_result(saga, steps, Outcome.COMPENSATED, operator_retries)


def operator_decision(
    context: df.DurableOrchestrationContext, operator_retries: int
) -> Generator[Any, Any, OperatorDecision]:
    """The next operator decision meant for this wait; a malformed one, or one meant for an
    earlier wait (a repeated click), is logged and the wait goes on."""
    while True:
        payload = yield from external_event(context, OPERATOR_DECISION)
        try:
            decision = OperatorDecision.model_validate(payload)
        except ValidationError as error:
            if not context.is_replaying:
                log.warning("Saga %s ignored an operator decision: %s", context.instance_id, error)
            continue
        if decision.operatorRetries == operator_retries:
            return decision
        if not context.is_replaying:
            log.warning(
                "Saga %s ignored a decision meant for the wait after %d operator retries "
                "(it waits after %d)",
                context.instance_id,
                decision.operatorRetries,
                operator_retries,
            )


def step_retries(policy: SagaPolicy) -> Retries:
    return Retries(
        attempts=policy.stepRetryAttempts,
        interval=timedelta(milliseconds=policy.stepRetryIntervalMs),
    )


def read_saga_input(raw: Any) -> SagaInput:
    """The only failure the saga lets escape: a bad input, before any step has run."""
    try:
        return SagaInput.model_validate(raw)
    except ValidationError as error:
        raise ValueError(f"OrderSaga input is not a valid SagaInput: {error}") from error


def failure_text(error: BaseException) -> str:
    """The reason of a task failure, without the serialized exception the host appends."""
    reason, _, _ = str(error).partition(" \n ")
    return reason.strip() or type(error).__name__


def forward_result(activity: str, answer: Any) -> StepResult:
    """What a forward step's answer means: succeeded, rejected, or failed (unknown effect)."""
    if isinstance(answer, BaseException):
        return StepResult(status=StepStatus.FAILED, reason=failure_text(answer))
    try:
        outcome = StepOutcome.model_validate(answer)
    except ValidationError as error:
        reason = f"{activity} returned {answer!r}, not a StepOutcome: {error}"
        return StepResult(status=StepStatus.FAILED, reason=reason)
    if outcome.ok:
        return StepResult(status=StepStatus.SUCCEEDED)
    return StepResult(status=StepStatus.REJECTED, reason=outcome.reason or f"{activity} refused")


def timed_out(policy: SagaPolicy) -> StepResult:
    reason = f"not settled within the {policy.stepDeadlineSeconds:g}s step deadline"
    return StepResult(status=StepStatus.TIMED_OUT, reason=reason)


def needs_compensation(steps: Mapping[Step, StepResult]) -> bool:
    """Any step that did not succeed means both are rolled back (a no-op rollback fences)."""
    return any(result.status is not StepStatus.SUCCEEDED for result in steps.values())


def compensating(result: StepResult) -> StepResult:
    """Keep what the step did visible while its rollback runs."""
    return StepResult(status=StepStatus.COMPENSATING, reason=_what_happened(result))


def rollback_result(step: Step, before: StepResult, answer: Any) -> StepResult:
    """A rollback that succeeded compensates the step; any other answer leaves it unresolved."""
    if isinstance(answer, BaseException):
        error = failure_text(answer)
    else:
        try:
            outcome = StepOutcome.model_validate(answer)
        except ValidationError as invalid:
            error = f"{ROLLBACK_ACTIVITY[step]} returned {answer!r}, not a StepOutcome: {invalid}"
        else:
            if outcome.ok:
                return StepResult(
                    status=StepStatus.COMPENSATED, reason=f"{before.reason}; compensated"
                )
            error = outcome.reason or f"{ROLLBACK_ACTIVITY[step]} refused"
    reason = f"{step} rollback failed: {error} ({step} was {before.reason})"
    return StepResult(status=StepStatus.COMPENSATION_FAILED, reason=reason)


def failed_rollbacks(steps: Mapping[Step, StepResult]) -> list[Step]:
    """The steps whose rollback still failed, in the saga's step order."""
    return [step for step in Step if steps[step].status is StepStatus.COMPENSATION_FAILED]


def last_error(steps: Mapping[Step, StepResult], failed: list[Step]) -> str:
    """What an operator reads first: the failure of the last failed rollback (its own words)."""
    return steps[failed[-1]].reason or f"{failed[-1]} rollback failed"


def saga_steps(steps: Mapping[Step, StepResult]) -> SagaSteps:
    return SagaSteps(order=steps[Step.ORDER], payment=steps[Step.PAYMENT])


def saga_result(
    saga: SagaInput,
    steps: Mapping[Step, StepResult],
    outcome: Outcome,
    operator_retries: int = 0,
    resolution: Resolution | None = None,
) -> dict[str, Any]:
    result = SagaResult(
        orderId=saga.order.orderId,
        outcome=outcome,
        amount=saga.order.amount,
        steps=saga_steps(steps),
        operatorRetries=operator_retries,
        resolution=resolution,
    )
    return result.model_dump(mode="json")


def _what_happened(result: StepResult) -> str:
    return f"{result.status}: {result.reason}" if result.reason else str(result.status)
