"""OrderSaga: reserve the stock and charge the wallet together, or undo both.

The orchestrator below reads as the business story; the decisions it takes (what a step's
answer means, whether to compensate, how the saga ends) are small pure functions under it, so
they can be tested without a replay.

Replay rules hold throughout: no wall clock, no randomness, no settings and no I/O here. The
policy travels in the input, and time comes from `context.current_utc_datetime`.

How the saga waits is shaped by the Functions host as well as by the SDK. The host replays the
actions on DurableTask: it starts each top-level action once the one before it has finished, and
numbers every task (each retry attempt and retry timer included) as it goes. The next action may
only appear once the host also considers the previous one finished, or the two sides number tasks
differently and the host fails the orchestration as non-deterministic. See `settle`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

import azure.durable_functions as df
from pydantic import ValidationError

from saga.models import (
    Outcome,
    SagaInput,
    SagaPolicy,
    SagaProgress,
    SagaResult,
    SagaSteps,
    StepOutcome,
    StepResult,
    StepStatus,
)

log = logging.getLogger(__name__)


class Step(StrEnum):
    ORDER = "order"
    PAYMENT = "payment"


FORWARD_ACTIVITY = {Step.ORDER: "OrderActivity", Step.PAYMENT: "PaymentActivity"}
ROLLBACK_ACTIVITY = {Step.ORDER: "RollbackOrderActivity", Step.PAYMENT: "RollbackPaymentActivity"}


class Stage(StrEnum):
    """Where the saga is, as the custom status tells it.

    The orchestrator hears of one step before the other only when that step fails; successes and
    rejections arrive together once both steps have answered (see `settle`).
    """

    STARTED = "started"
    STEP_SETTLED = "step_settled"
    COMPENSATING = "compensating"
    ROLLBACK_SETTLED = "rollback_settled"
    FINISHED = "finished"


# The orchestrator yields SDK tasks and is sent their results; the SDK ships no type hints.
Saga = Generator[Any, Any, dict[str, Any]]
Settling = Generator[Any, Any, dict[Step, Any]]


def orchestrator_function(context: df.DurableOrchestrationContext) -> Saga:
    """Run both steps in parallel; if either did not succeed, roll both back."""
    saga = read_saga_input(context.get_input(expected_type=dict))
    order, policy = saga.order, saga.policy
    order_json = order.model_dump(mode="json")
    steps: dict[Step, StepResult] = {step: StepResult(status=StepStatus.PENDING) for step in Step}

    def report(stage: Stage, outcome: Outcome = Outcome.RUNNING) -> None:
        progress = SagaProgress(stage=stage, outcome=outcome, steps=saga_steps(steps))
        context.set_custom_status(progress.model_dump(mode="json"))

    report(Stage.STARTED)
    step_retry = df.RetryOptions(policy.stepRetryIntervalMs, policy.stepRetryAttempts)
    forward = {
        step: context.call_activity_with_retry(
            FORWARD_ACTIVITY[step], step_retry, order_json, expected_type=dict
        )
        for step in Step
    }
    deadline = context.create_timer(
        context.current_utc_datetime + timedelta(seconds=policy.stepDeadlineSeconds)
    )

    def forward_settled(step: Step, answer: Any) -> None:
        steps[step] = forward_result(FORWARD_ACTIVITY[step], answer)
        report(Stage.STEP_SETTLED)

    answers = yield from settle(context, forward, deadline, forward_settled)
    for step in Step:
        if step not in answers:
            steps[step] = timed_out(policy)

    if not needs_compensation(steps):
        deadline.cancel()
        report(Stage.FINISHED, Outcome.COMPLETED)
        return saga_result(saga, steps, Outcome.COMPLETED)

    # DurableTask keeps an instance Running while a timer it created is pending, so cancel the
    # deadline when that is safe: when both steps answered at their first attempt. A cancelled
    # timer finishes at once when the Functions host replays the actions, so the host numbers the
    # rollbacks right after the deadline; after a failed attempt it would number them ahead of
    # that step's retry timer, unlike the SDK, and fail the replay. Then the timer stays armed,
    # and the instance reports Running until the deadline passes, its output already final.
    if not deadline.is_completed and all(first_attempt_answered(t) for t in forward.values()):
        deadline.cancel()
    for step in Step:
        steps[step] = compensating(steps[step])
    report(Stage.COMPENSATING)
    compensation_retry = df.RetryOptions(
        policy.compensationRetryIntervalMs, policy.compensationRetryAttempts
    )
    rollbacks = {
        step: context.call_activity_with_retry(
            ROLLBACK_ACTIVITY[step], compensation_retry, order_json, expected_type=dict
        )
        for step in Step
    }
    before = dict(steps)

    def rollback_settled(step: Step, answer: Any) -> None:
        steps[step] = rollback_result(step, before[step], answer)
        if steps[step].status is StepStatus.COMPENSATION_FAILED and not context.is_replaying:
            log.error("Saga %s: %s", order.orderId, steps[step].reason)
        report(Stage.ROLLBACK_SETTLED)

    yield from settle(context, rollbacks, None, rollback_settled)
    outcome = final_outcome(steps)
    report(Stage.FINISHED, outcome)
    return saga_result(saga, steps, outcome)


def settle(
    context: df.DurableOrchestrationContext,
    tasks: Mapping[Step, Any],
    deadline: Any | None,
    on_settled: Callable[[Step, Any], None],
) -> Settling:
    """Wait until every task has settled (or the deadline fired) and return their answers.

    Never fails fast: a task that raised hands its exception back as its answer, and the others
    are still awaited. The tasks are scheduled as one task_all raced against the deadline: the
    host replays that as "all settled, or the deadline", exactly when this saga moves on. (The SDK's
    task_all fails fast instead, so after a failure the rest are awaited again, which schedules
    nothing new; task_any never throws into the saga.)
    Steps missing from the returned mapping were still in flight when the deadline fired.
    """
    pending = dict(tasks)
    answers: dict[Step, Any] = {}
    alarm = [deadline] if deadline is not None else []
    waiting = context.task_any([context.task_all(list(pending.values())), *alarm])
    while pending:
        yield waiting
        for step, task in list(pending.items()):
            if task.is_completed:
                del pending[step]
                answers[step] = task.result
                on_settled(step, task.result)
        if deadline is not None and deadline.is_completed:
            # Answers after the deadline are ignored. Park the steps still in flight under a task
            # nobody awaits: in SDK 1.7 a task_all that failed fast completes again when its last
            # child settles, and a parent that already saw it fail raises "completed twice".
            context.task_any(list(pending.values()))
            break
        # Every task here is already scheduled, so this adds no action; it only waits.
        waiting = context.task_any([*pending.values(), *alarm])
    return answers


def first_attempt_answered(task: Any) -> bool:
    """Whether a retried activity's task completed at its first attempt (so the host took no
    retry timer for it). `num_attempts` is the SDK's count of attempts scheduled; without it,
    assume the worst."""
    return (
        bool(task.is_completed)
        and getattr(task, "num_attempts", None) == 1
        and not isinstance(task.result, BaseException)
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


def final_outcome(steps: Mapping[Step, StepResult]) -> Outcome:
    if any(result.status is StepStatus.COMPENSATION_FAILED for result in steps.values()):
        return Outcome.COMPENSATION_FAILED
    return Outcome.COMPENSATED


def saga_steps(steps: Mapping[Step, StepResult]) -> SagaSteps:
    return SagaSteps(order=steps[Step.ORDER], payment=steps[Step.PAYMENT])


def saga_result(
    saga: SagaInput, steps: Mapping[Step, StepResult], outcome: Outcome
) -> dict[str, Any]:
    result = SagaResult(
        orderId=saga.order.orderId,
        outcome=outcome,
        amount=saga.order.amount,
        steps=saga_steps(steps),
    )
    return result.model_dump(mode="json")


def _what_happened(result: StepResult) -> str:
    return f"{result.status}: {result.reason}" if result.reason else str(result.status)
