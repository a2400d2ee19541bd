"""What a saga decides, as small pure functions: what an answer means, which steps to compensate,
which compensations still fail. The orchestrator (durable_saga.orchestrator) only applies them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from durable_saga.declaration import Step
from durable_saga.documents import StepOutcome, StepResult, StepStatus

# A step that may have taken effect: compensated whenever its saga does not complete.
MAY_HAVE_TAKEN_EFFECT = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.TIMED_OUT})


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


def timed_out(deadline: timedelta) -> StepResult:
    seconds = deadline.total_seconds()
    reason = f"not settled within the {seconds:g}s step deadline"
    return StepResult(status=StepStatus.TIMED_OUT, reason=reason)


def needs_compensation(steps: Mapping[Any, StepResult]) -> bool:
    """A stage any of whose steps did not succeed is compensated, with every stage before it."""
    return any(result.status is not StepStatus.SUCCEEDED for result in steps.values())


def to_compensate(
    steps: Iterable[Step], results: Mapping[str, StepResult], fence_refused: bool
) -> list[Step]:
    """The steps whose compensation runs, in declaration order: every step that may have taken
    effect, and a refused one too when the saga fences refusals. A step with nothing to undo,
    and one that never ran, are left as they are."""
    compensated = MAY_HAVE_TAKEN_EFFECT | ({StepStatus.REJECTED} if fence_refused else set())
    return [
        step
        for step in steps
        if step.compensate is not None and results[step.name].status in compensated
    ]


def compensating(result: StepResult) -> StepResult:
    """Keep what the step did visible while its compensation runs."""
    return StepResult(status=StepStatus.COMPENSATING, reason=_what_happened(result))


def rollback_result(step: Step, before: StepResult, answer: Any) -> StepResult:
    """A compensation that succeeded compensates the step; any other answer leaves it
    unresolved."""
    activity = step.compensate or f"{step.name} compensation"
    if isinstance(answer, BaseException):
        error = failure_text(answer)
    else:
        try:
            outcome = StepOutcome.model_validate(answer)
        except ValidationError as invalid:
            error = f"{activity} returned {answer!r}, not a StepOutcome: {invalid}"
        else:
            if outcome.ok:
                return StepResult(
                    status=StepStatus.COMPENSATED, reason=f"{before.reason}; compensated"
                )
            error = outcome.reason or f"{activity} refused"
    reason = f"{step.name} rollback failed: {error} ({step.name} was {before.reason})"
    return StepResult(status=StepStatus.COMPENSATION_FAILED, reason=reason)


def failed_rollbacks(steps: Iterable[Step], results: Mapping[str, StepResult]) -> list[Step]:
    """The steps whose compensation still failed, in declaration order."""
    return [step for step in steps if results[step.name].status is StepStatus.COMPENSATION_FAILED]


def last_error(results: Mapping[str, StepResult], failed: list[Step]) -> str:
    """What an operator reads first: the failure of the last failed compensation (its own
    words)."""
    return results[failed[-1].name].reason or f"{failed[-1].name} rollback failed"


def _what_happened(result: StepResult) -> str:
    return f"{result.status}: {result.reason}" if result.reason else str(result.status)
