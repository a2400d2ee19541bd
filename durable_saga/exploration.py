"""A saga's failure points, and the invariants every run of it must keep, as pure data and checks.

A failure point is one way the saga's services can let it down: a step refused, failing every
attempt, or answering only after its deadline; or a compensation failing until an operator retries
it or resolves it by hand. `failure_points` lists them all for a declaration (and the run where
nothing fails). `violations` reads what one run did (every activity call, in the order things
happened, and the instance's checkpoints) and says which invariant it broke and how. It judges
from the calls themselves, not from what the saga reports about them, so a toolkit that reports
one thing and does another is caught. durable_saga.testing runs the points on durable_host's test
kit; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Literal

from durable_saga.declaration import Saga, Step, StepPlan
from durable_saga.documents import Outcome

DECIDED = frozenset({Outcome.COMPLETED, Outcome.COMPENSATED, Outcome.RESOLVED_MANUALLY})


class Fault(Enum):
    """What goes wrong at a failure point (NONE: the run where every service answers)."""

    NONE = "every step succeeds"
    REFUSED = "refused"
    FAILS = "failing every attempt"
    OUTLASTS_DEADLINE = "outlasting its deadline"
    COMPENSATION_RETRIED = "compensation failing, then retried by an operator"
    COMPENSATION_RESOLVED = "compensation failing, then resolved by an operator"

    @property
    def in_compensation(self) -> bool:
        return self in (Fault.COMPENSATION_RETRIED, Fault.COMPENSATION_RESOLVED)


class Answer(StrEnum):
    """How a service answers one call at a failure point."""

    OK = "ok"
    REFUSE = "refuse"
    FAIL = "fail"  # raises, as a service that is down
    LATE = "late"  # answers ok, but only after the step's deadline


class Invariant(StrEnum):
    OUTCOME = "the saga ends with the outcome its failure point calls for"
    ATTEMPTS = "every activity was tried as often as its retries say"
    STAGES_IN_ORDER = "a stage starts only once every step of the stage before succeeded"
    COMPENSATED = (
        "every step that may have taken effect was compensated exactly when the outcome says so"
    )
    REVERSE_ORDER = "compensations ran in reverse stage order"
    AFTER_SETTLED = "compensation began only after every step that ran had settled"
    NOTHING_AFTER_COMPLETION = "no activity ran after the instance completed"
    NO_IDLE_WAIT = (
        "the saga never stood idle: each wait ended by a retry, a deadline or an operator"
    )
    COMPLETED_WHEN_DECIDED = "the instance completed at the virtual instant its outcome was decided"
    DETERMINISTIC = "every episode replays deterministically"


@dataclass(frozen=True)
class FailurePoint:
    """One fault at one step (a compensation fault: at that step's compensation)."""

    fault: Fault
    step: str | None = None

    def __str__(self) -> str:
        if self.step is None:
            return self.fault.value
        if self.fault.in_compensation:
            return f"{self.step}'s {self.fault.value}"
        return f"{self.step} {self.fault.value}"

    @property
    def outcome(self) -> Outcome:
        if self.fault is Fault.NONE:
            return Outcome.COMPLETED
        if self.fault is Fault.COMPENSATION_RESOLVED:
            return Outcome.RESOLVED_MANUALLY
        return Outcome.COMPENSATED

    @property
    def operator_action(self) -> Literal["retry", "resolve"] | None:
        """What the operator does once the saga waits for one (None: nobody is needed)."""
        if self.fault is Fault.COMPENSATION_RETRIED:
            return "retry"
        if self.fault is Fault.COMPENSATION_RESOLVED:
            return "resolve"
        return None

    def forward_answer(self, saga: Saga, step: Step) -> Answer:
        """How `step`'s service answers. A compensation fault needs the saga to compensate: its
        last declared step fails every attempt, so every step before it is compensated."""
        if self.fault.in_compensation:
            return Answer.FAIL if step == saga.steps[-1] else Answer.OK
        if step.name != self.step:
            return Answer.OK
        return {
            Fault.REFUSED: Answer.REFUSE,
            Fault.FAILS: Answer.FAIL,
            Fault.OUTLASTS_DEADLINE: Answer.LATE,
        }[self.fault]

    def compensation_fails(self, step: Step, operator_acted: bool) -> bool:
        """Whether `step`'s compensation fails now: at its own point, until the operator acts."""
        return self.fault.in_compensation and step.name == self.step and not operator_acted


def failure_points(saga: Saga) -> list[FailurePoint]:
    """Every failure point of `saga`, the run where nothing fails first."""
    points = [FailurePoint(Fault.NONE)]
    for step in saga.steps:
        faults = [Fault.REFUSED, Fault.FAILS, Fault.OUTLASTS_DEADLINE]
        points += [FailurePoint(fault, step.name) for fault in faults]
    for step in saga.steps:
        if step.compensate is not None:
            faults = [Fault.COMPENSATION_RETRIED, Fault.COMPENSATION_RESOLVED]
            points += [FailurePoint(fault, step.name) for fault in faults]
    return points


@dataclass
class Call:
    """One activity call as the service saw it: `started`/`ended` order it among everything
    the run recorded; the `*_after_completion` flags say whether the instance had completed."""

    activity: str
    step: str
    compensates: bool
    started: int
    started_at: datetime
    started_after_completion: bool
    ended: int | None = None
    ended_at: datetime | None = None
    answer: Answer | None = None
    ended_after_completion: bool = False


@dataclass(frozen=True)
class Checkpoint:
    """The instance after one episode: its runtime status and the outcome it reported."""

    runtime_status: str
    outcome: str | None
    at: datetime


@dataclass(frozen=True)
class Violation:
    invariant: Invariant
    detail: str


@dataclass(frozen=True)
class ExploredRun:
    """What one run at a failure point did."""

    calls: Sequence[Call]
    checkpoints: Sequence[Checkpoint]
    start: datetime
    operator_acted_at: datetime | None = None

    @property
    def outcome(self) -> str | None:
        return self.checkpoints[-1].outcome if self.checkpoints else None

    def of(self, step: Step, compensates: bool) -> list[Call]:
        return [c for c in self.calls if c.step == step.name and c.compensates == compensates]

    def at(self, when: datetime | None) -> str:
        """A virtual instant, as seconds from the start of the run."""
        return "never" if when is None else f"+{(when - self.start).total_seconds():g}s"


def violations(
    saga: Saga, plans: Mapping[str, StepPlan], point: FailurePoint, run: ExploredRun
) -> list[Violation]:
    """Every invariant the run broke, each with what happened. A run that did not end with the
    point's outcome is judged on that alone: the rest would only repeat it."""
    final = run.checkpoints[-1] if run.checkpoints else None
    if final is None or final.runtime_status != "Completed" or run.outcome != point.outcome:
        ended = "never checkpointed" if final is None else f"ended {final.runtime_status}"
        detail = f"expected {point.outcome}, the instance {ended} with outcome {run.outcome}"
        return [Violation(Invariant.OUTCOME, detail)]
    checks = (
        _attempts(saga, plans, point, run),
        _stages_in_order(saga, run),
        _compensated(saga, point, run),
        _reverse_order(saga, run),
        _after_settled(saga, plans, run),
        _nothing_after_completion(run),
        _no_idle_wait(plans, run),
        _completed_when_decided(run),
    )
    return [violation for check in checks for violation in check]


def _attempts(
    saga: Saga, plans: Mapping[str, StepPlan], point: FailurePoint, run: ExploredRun
) -> Iterable[Violation]:
    for step in saga.steps:
        plan = plans[step.name]
        calls = run.of(step, compensates=False)
        if calls and point.forward_answer(saga, step) is Answer.FAIL:
            # The deadline passed before the next attempt was due.
            last_failed = calls[-1].ended_at or calls[-1].started_at
            cut_short = last_failed + plan.retries.interval >= calls[0].started_at + plan.deadline
            if len(calls) > plan.retries.attempts or (
                len(calls) < plan.retries.attempts and not cut_short
            ):
                yield Violation(
                    Invariant.ATTEMPTS,
                    f"{step.forward} failed every attempt and was tried {len(calls)} times; its "
                    f"retries allow {plan.retries.attempts}",
                )
        elif len(calls) > 1:
            yield Violation(
                Invariant.ATTEMPTS,
                f"{step.forward} answered its first call and was called {len(calls)} times",
            )
        compensations = run.of(step, compensates=True)
        if not compensations:
            continue
        expected = 1
        if point.step == step.name and point.fault.in_compensation:
            failing = plan.compensation_retries.attempts
            expected = failing + (1 if point.fault is Fault.COMPENSATION_RETRIED else 0)
        if len(compensations) != expected:
            yield Violation(
                Invariant.ATTEMPTS,
                f"{step.compensate} was called {len(compensations)} times, not {expected}",
            )


def _stages_in_order(saga: Saga, run: ExploredRun) -> Iterable[Violation]:
    for earlier, later in zip(saga.stages, saga.stages[1:], strict=False):
        started = [c for step in later.steps for c in run.of(step, compensates=False)]
        if not started:
            continue
        first = min(started, key=lambda c: c.started)
        for step in earlier.steps:
            calls = run.of(step, compensates=False)
            last = calls[-1] if calls else None
            if last is None or last.answer is not Answer.OK:
                answer = "was never called" if last is None else f"answered {last.answer}"
                yield Violation(
                    Invariant.STAGES_IN_ORDER,
                    f"{first.activity} (stage {later.name}) ran though {step.forward} "
                    f"(stage {earlier.name}) {answer}",
                )
            elif last.ended is None or last.ended > first.started:
                yield Violation(
                    Invariant.STAGES_IN_ORDER,
                    f"{first.activity} (stage {later.name}) started at {run.at(first.started_at)}, "
                    f"before {step.forward} (stage {earlier.name}) answered, at "
                    f"{run.at(last.ended_at)}",
                )


def _may_have_taken_effect(calls: Sequence[Call]) -> bool:
    """Succeeded, failed with an unknown effect, or cut off by its deadline."""
    return any(call.answer is not Answer.REFUSE for call in calls)


def _compensated(saga: Saga, point: FailurePoint, run: ExploredRun) -> Iterable[Violation]:
    undoing = run.outcome in (Outcome.COMPENSATED, Outcome.RESOLVED_MANUALLY)
    for step in saga.steps:
        compensations = run.of(step, compensates=True)
        forward = run.of(step, compensates=False)
        refused = bool(forward) and not _may_have_taken_effect(forward)
        owed = (
            step.compensate is not None
            and undoing
            and (_may_have_taken_effect(forward) or (refused and saga.fence_refused))
        )
        applied = sum(1 for call in compensations if call.answer is Answer.OK)
        resolved = point.fault is Fault.COMPENSATION_RESOLVED and point.step == step.name
        if owed and resolved:
            if not compensations or applied:
                yield Violation(
                    Invariant.COMPENSATED,
                    f"{step.compensate} was to fail until an operator resolved it by hand, "
                    f"and succeeded {applied} of {len(compensations)} times",
                )
        elif owed and applied != 1:
            did = "; ".join(f"{c.answer} at {run.at(c.started_at)}" for c in compensations)
            yield Violation(
                Invariant.COMPENSATED,
                f"{step.forward} may have taken effect and the saga ended {run.outcome}, so "
                f"{step.compensate} must succeed once; it succeeded {applied} times "
                f"({did or 'never called'})",
            )
        elif not owed and compensations:
            why = _why_not_owed(step, forward, undoing)
            yield Violation(
                Invariant.COMPENSATED,
                f"{step.compensate} ran {len(compensations)} times though {why}",
            )


def _why_not_owed(step: Step, forward: Sequence[Call], undoing: bool) -> str:
    if not undoing:
        return "the saga completed"
    if not forward:
        return f"{step.forward} never ran"
    return f"{step.forward} was refused and the saga does not fence refusals"


def _reverse_order(saga: Saga, run: ExploredRun) -> Iterable[Violation]:
    for index, earlier in enumerate(saga.stages):
        for later in saga.stages[index + 1 :]:
            undone_first = [c for step in later.steps for c in run.of(step, compensates=True)]
            undone_next = [c for step in earlier.steps for c in run.of(step, compensates=True)]
            if not undone_first or not undone_next:
                continue
            begun = min(undone_next, key=lambda c: c.started)
            for call in undone_first:
                if call.ended is None or call.ended > begun.started:
                    yield Violation(
                        Invariant.REVERSE_ORDER,
                        f"{begun.activity} (stage {earlier.name}) started at "
                        f"{run.at(begun.started_at)}, before {call.activity} (stage "
                        f"{later.name}, a later one) had settled, at {run.at(call.ended_at)}",
                    )


def _after_settled(
    saga: Saga, plans: Mapping[str, StepPlan], run: ExploredRun
) -> Iterable[Violation]:
    compensations = [c for c in run.calls if c.compensates]
    if not compensations:
        return
    begun = min(compensations, key=lambda c: c.started)
    for step in saga.steps:
        calls = run.of(step, compensates=False)
        if not calls:
            continue
        given_up = calls[0].started_at + plans[step.name].deadline
        for call in calls:
            answered = call.ended is not None and call.ended < begun.started
            if not answered and begun.started_at < given_up:
                yield Violation(
                    Invariant.AFTER_SETTLED,
                    f"{begun.activity} started at {run.at(begun.started_at)} while "
                    f"{call.activity} (stage {saga.stage_of(step).name}) was in flight: it "
                    f"answered at {run.at(call.ended_at)}, and its deadline was "
                    f"{run.at(given_up)}",
                )


def _nothing_after_completion(run: ExploredRun) -> Iterable[Violation]:
    for call in run.calls:
        if call.started_after_completion:
            yield Violation(
                Invariant.NOTHING_AFTER_COMPLETION,
                f"{call.activity} started at {run.at(call.started_at)}, after the instance "
                "completed",
            )
        elif call.ended_after_completion:
            yield Violation(
                Invariant.NOTHING_AFTER_COMPLETION,
                f"{call.activity} was still running when the instance completed; it answered "
                f"at {run.at(call.ended_at)}",
            )


def _no_idle_wait(plans: Mapping[str, StepPlan], run: ExploredRun) -> Iterable[Violation]:
    """Whenever no activity ran, the saga waited for something that ended the wait: the retry
    interval after a failed attempt, the deadline of a step still waiting to be retried, or the
    operator. A timer left open behind a settled wait (a guard not cancelled) holds the host's
    next action until it fires, and shows here as time nobody needed."""
    ordered = sorted(run.calls, key=lambda c: c.started)
    for index, call in enumerate(ordered[1:], start=1):
        before = ordered[:index]
        if any(c.ended is None or c.ended > call.started for c in before):
            continue  # something ran until this call started
        idle_from = max(c.ended_at for c in before if c.ended_at is not None)
        if call.started_at == idle_from or call.started_at == run.operator_acted_at:
            continue
        # A retry starts the activity that failed; a deadline gives a step up, and what it
        # starts is compensation.
        retried = any(
            c.answer is Answer.FAIL
            and c.activity == call.activity
            and c.ended_at + _retry_interval(plans[c.step], c) == call.started_at
            for c in before
            if c.ended_at is not None
        )
        given_up = call.compensates and any(
            _waiting_for_retry(plans[name], before)
            and first.started_at + plans[name].deadline == call.started_at
            for name, first in _first_forward_calls(before).items()
        )
        if not (retried or given_up):
            yield Violation(
                Invariant.NO_IDLE_WAIT,
                f"nothing ran from {run.at(idle_from)} to {run.at(call.started_at)}, when "
                f"{call.activity} started, and no retry, deadline or operator was due then",
            )


def _retry_interval(plan: StepPlan, call: Call) -> timedelta:
    return (plan.compensation_retries if call.compensates else plan.retries).interval


def _first_forward_calls(calls: Sequence[Call]) -> dict[str, Call]:
    first: dict[str, Call] = {}
    for call in calls:
        if not call.compensates:
            first.setdefault(call.step, call)
    return first


def _waiting_for_retry(plan: StepPlan, calls: Sequence[Call]) -> bool:
    """Whether the step's last attempt so far failed and it has attempts left (the next one
    waits for a retry timer)."""
    attempts = [c for c in calls if c.step == plan.step.name and not c.compensates]
    return (
        bool(attempts)
        and attempts[-1].answer is Answer.FAIL
        and len(attempts) < plan.retries.attempts
    )


def _completed_when_decided(run: ExploredRun) -> Iterable[Violation]:
    """Completed once decided, or, when an attempt cut off by its deadline still ran then (an
    activity cannot be cancelled), the instant the last one returned."""
    decided = next(c.at for c in run.checkpoints if c.outcome in DECIDED)
    completed = next(c.at for c in run.checkpoints if c.runtime_status == "Completed")
    returned = [call.ended_at for call in run.calls if call.ended_at is not None]
    due = max([decided, *returned])
    if completed != due:
        yield Violation(
            Invariant.COMPLETED_WHEN_DECIDED,
            f"the outcome was decided at {run.at(decided)} and the last activity returned at "
            f"{run.at(max(returned, default=None))}, but the instance completed at "
            f"{run.at(completed)}",
        )


def describe(saga: Saga, point: FailurePoint, violation: Violation) -> str:
    """One line naming the saga, the failure point, the invariant and what happened."""
    return (
        f"{saga.name} at failure point '{point}': invariant '{violation.invariant}' broken: "
        f"{violation.detail}"
    )
