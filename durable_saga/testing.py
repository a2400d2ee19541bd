"""The failure-point explorer: a declared saga run once at every failure point, on durable_host's
test kit, with the toolkit's invariants checked on every run.

    from durable_saga.testing import explore

    async def test_the_trip_holds_at_every_failure_point() -> None:
        explored = await explore(TRIP_SAGA, "examples/trip", TRIP)
        assert {str(e.point): e.outcome for e in explored}["car refused"] == "compensated"

For each point (durable_saga.exploration.failure_points) the saga's app folder is loaded into a
fresh `DurableTestEnv` (in-memory task hub, virtual time, every episode replayed by the real SDK
and checked for determinism), its activities replaced by services that answer as the point says,
and the saga started with `saga_input`. Where the point needs an operator, the explorer plays one
(retry, or resolve with a note). Every call is recorded as the service sees it; once the instance
has completed, `durable_saga.exploration.violations` judges the run. Any broken invariant fails
`explore` with one line per point and invariant, saying what happened.

The services: a healthy one answers `{"ok": true}` after a second of virtual time (half its step's
deadline, if that is shorter), so that the steps of a stage overlap; at its failure point a step
is refused or raises at once, or answers only after its deadline; a compensation at its point
raises until the operator has acted.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from durable_host.testing import DurableTestEnv, InstanceStatus, NonDeterminismError, WaitTimeout
from durable_saga.activity import saga_activity
from durable_saga.declaration import Saga, Step, StepPlan
from durable_saga.documents import OperatorDecision, Phase, Progress
from durable_saga.exploration import (
    Answer,
    Call,
    Checkpoint,
    ExploredRun,
    FailurePoint,
    Invariant,
    Violation,
    describe,
    failure_points,
    violations,
)
from durable_saga.orchestrator import OPERATOR_DECISION

__all__ = ["Exploration", "InjectedFailure", "InvariantBroken", "explore", "failure_points"]

START = datetime(2026, 1, 1, tzinfo=UTC)
SERVICE_TIME = timedelta(seconds=1)
RESOLUTION_NOTE = "put right by hand"


class InjectedFailure(RuntimeError):
    """The transient failure a service raises at its failure point."""


class InvariantBroken(AssertionError):
    """At least one failure point broke an invariant; the message lists each."""


@dataclass(frozen=True)
class Exploration:
    """One run: its failure point, the outcome the saga reported, what it did, and the
    invariants it broke (none, once `explore` has returned)."""

    point: FailurePoint
    run: ExploredRun
    violations: list[Violation]

    @property
    def outcome(self) -> str | None:
        return self.run.outcome


async def explore(
    saga: Saga,
    app_dir: str | Path,
    saga_input: Any,
    *,
    instance_id: str = "explored-saga",
    settings: Mapping[str, str] | None = None,
    points: Sequence[FailurePoint] | None = None,
) -> list[Exploration]:
    """Run `saga` (its orchestrator in `app_dir`) at every failure point (or those given), each
    started with `saga_input`; `settings` are app settings on top of local.settings.json.
    Returns the runs; raises InvariantBroken naming each point and invariant that failed."""
    plans = saga.plan(saga.policy_of(saga.read_input(saga_input)))
    explored = [
        await _explore_point(saga, plans, point, Path(app_dir), saga_input, instance_id, settings)
        for point in (failure_points(saga) if points is None else points)
    ]
    broken = [
        describe(saga, exploration.point, violation)
        for exploration in explored
        for violation in exploration.violations
    ]
    if broken:
        failed = sum(1 for exploration in explored if exploration.violations)
        raise InvariantBroken(
            f"{failed} of {len(explored)} failure points broke an invariant:\n" + "\n".join(broken)
        )
    return explored


async def _explore_point(
    saga: Saga,
    plans: Mapping[str, StepPlan],
    point: FailurePoint,
    app_dir: Path,
    saga_input: Any,
    instance_id: str,
    settings: Mapping[str, str] | None,
) -> Exploration:
    services = _Services(saga, plans, point, instance_id)
    checkpoints: list[Checkpoint] = []
    found: list[Violation] | None = None
    try:
        async with DurableTestEnv(
            app_dir, activities=services.fakes(), settings=settings, start_time=START
        ) as env:
            services.env = env
            await env.start(saga.name, saga_input, instance_id)
            if point.operator_action is not None:
                waiting = await env.wait_for(instance_id, "Running", until=_waits_for_operator)
                services.operator_acted_at = env.now
                await env.raise_event(
                    instance_id, OPERATOR_DECISION, _decision(point.operator_action, waiting)
                )
            await env.wait_for(instance_id, "Completed")
            # Anything the saga left behind runs now, and is seen running after the completion.
            await env.settle()
            checkpoints = [_checkpoint(status) for status in env.statuses(instance_id)]
    except NonDeterminismError as error:
        found = [Violation(Invariant.DETERMINISTIC, str(error))]
    except WaitTimeout as error:
        found = [Violation(Invariant.OUTCOME, str(error))]
    run = ExploredRun(services.calls, checkpoints, START, services.operator_acted_at)
    if found is None:
        found = violations(saga, plans, point, run)
    return Exploration(point, run, found)


def _waits_for_operator(status: InstanceStatus) -> bool:
    progress = status.custom_status
    return isinstance(progress, dict) and progress.get("stage") == Phase.NEEDS_ATTENTION


def _decision(action: Literal["retry", "resolve"], waiting: InstanceStatus) -> dict[str, Any]:
    """The operator's decision for the wait the saga reports."""
    attention = Progress.model_validate(waiting.custom_status).attention
    return OperatorDecision(
        action=action,
        note=RESOLUTION_NOTE if action == "resolve" else None,
        operatorRetries=attention.operatorRetries if attention else 0,
    ).model_dump(mode="json")


def _checkpoint(status: InstanceStatus) -> Checkpoint:
    progress = status.custom_status
    outcome = progress.get("outcome") if isinstance(progress, dict) else None
    return Checkpoint(status.runtime_status, outcome, status.last_updated_time)


Service = Callable[[Any], Awaitable[dict[str, Any]]]


class _Services:
    """The saga's services at one failure point, recording every call as they see it."""

    def __init__(
        self, saga: Saga, plans: Mapping[str, StepPlan], point: FailurePoint, instance_id: str
    ) -> None:
        self.saga = saga
        self.plans = plans
        self.point = point
        self.instance_id = instance_id
        self.calls: list[Call] = []
        self.env: DurableTestEnv | None = None
        self.operator_acted_at: datetime | None = None
        self._order = itertools.count()

    def fakes(self) -> dict[str, Service]:
        # Each wears the adapter the saga's own activities wear: it gets the payload alone.
        return {
            activity: saga_activity(self._service(step, activity, compensates))
            for step, activity, compensates in self.saga.activities()
        }

    def _completed(self) -> bool:
        assert self.env is not None
        return any(s.runtime_status == "Completed" for s in self.env.statuses(self.instance_id))

    def _answer(self, step: Step, compensates: bool) -> Answer:
        if compensates:
            failing = self.point.compensation_fails(step, self.operator_acted_at is not None)
            return Answer.FAIL if failing else Answer.OK
        return self.point.forward_answer(self.saga, step)

    def _service(self, step: Step, activity: str, compensates: bool) -> Service:
        plan = self.plans[step.name]
        service_time = min(SERVICE_TIME, plan.deadline / 2)

        async def service(_payload: Any) -> dict[str, Any]:
            env = self.env
            assert env is not None, "an activity ran before the saga was started"
            call = Call(
                activity, step.name, compensates, next(self._order), env.now, self._completed()
            )
            self.calls.append(call)
            answer = self._answer(step, compensates)
            if answer is Answer.OK:
                await env.sleep(service_time)
            elif answer is Answer.LATE:
                await env.sleep(plan.deadline + service_time)
            call.ended, call.ended_at, call.answer = next(self._order), env.now, answer
            call.ended_after_completion = self._completed()
            if answer is Answer.FAIL:
                raise InjectedFailure(f"{activity} failed at failure point '{self.point}'")
            if answer is Answer.REFUSE:
                return {
                    "ok": False,
                    "reason": f"{activity} refused at failure point '{self.point}'",
                }
            return {"ok": True, "reason": None}

        return service
