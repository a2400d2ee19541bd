"""The orchestrator a declared saga runs as: `main = df.Orchestrator.create(orchestrator(SAGA))`.

The saga's lifecycle, stage by stage: the stage's steps run in parallel, each retried on
transient errors, until every one has answered or passed its deadline. If all succeeded, the next
stage runs, and after the last the saga is completed. Otherwise the saga compensates: the steps
that may have taken effect in this stage and every earlier one, stage by stage in reverse order,
the steps of one stage in parallel, each compensation with its own retries. If a compensation
still fails, the saga waits (phase needs_attention) for an operator, who either retries the failed
compensations or says they were put right by hand (resolve); either way the earlier stages are
compensated next. Once the saga has its outcome the instance completes: nothing it started is left
open (durable_saga.waiting).

Replay rules hold throughout: no wall clock, no randomness, no settings and no I/O here. The
policy travels in the input or the declaration, and time comes from `context.current_utc_datetime`.
The saga's trace (durable_saga.saga_trace) gives every attempt its payload and reports the spans
of what is new in each episode; a replay reports nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from typing import Any

import azure.durable_functions as df
from pydantic import ValidationError

from durable_saga.decisions import (
    compensating,
    failed_rollbacks,
    forward_result,
    last_error,
    needs_compensation,
    rollback_result,
    timed_out,
    to_compensate,
)
from durable_saga.declaration import Saga, Stage, Step, StepPlan
from durable_saga.documents import (
    PENDING,
    Attention,
    Ending,
    OperatorDecision,
    Outcome,
    Phase,
    Progress,
    Resolution,
    StepResult,
    StepStatus,
    split_trace_context,
)
from durable_saga.saga_trace import SagaTrace
from durable_saga.waiting import Attempts, external_event, run_with_retries

log = logging.getLogger(__name__)

# The external event an operator's decision arrives as (see durable_saga.monitor).
OPERATOR_DECISION = "OperatorDecision"

# The orchestrator yields SDK tasks and is sent their results; the SDK ships no type hints.
SagaRun = Generator[Any, Any, dict[str, Any]]
Orchestrator = Callable[[df.DurableOrchestrationContext], SagaRun]


def orchestrator(saga: Saga) -> Orchestrator:
    """The orchestrator function of `saga`, for df.Orchestrator.create."""

    def run(context: df.DurableOrchestrationContext) -> SagaRun:
        return (yield from _Run(saga, context).run())

    return run


class _Run:
    """One saga instance's run: the steps' results as it goes, and what it reports."""

    def __init__(self, saga: Saga, context: df.DurableOrchestrationContext) -> None:
        self.saga = saga
        self.context = context
        raw = context.get_input(expected_type=dict)
        # The only failure the saga lets escape: a bad input, before any step has run.
        self.input = saga.read_input(raw)
        self.plans: dict[str, StepPlan] = saga.plan(saga.policy_of(self.input))
        _, trace_context = split_trace_context(raw)
        self.trace = SagaTrace(
            saga, context, saga.payload_of(self.input), trace_context, self.plans
        )
        self.results: dict[str, StepResult] = {step.name: PENDING for step in saga.steps}
        self.stage = saga.stages[0]
        self.operator_retries = 0

    def run(self) -> SagaRun:
        for index, stage in enumerate(self.saga.stages):
            self.stage = stage
            self.report(Phase.STARTED)
            self.trace.note("stage started", stage=stage.name)
            yield from self.run_stage(stage)
            if needs_compensation({step.name: self.results[step.name] for step in stage.steps}):
                return (yield from self.compensate(self.saga.stages[index::-1]))
        return self.finish(Outcome.COMPLETED)

    def run_stage(self, stage: Stage) -> Generator[Any, Any, None]:
        """Run the stage's steps in parallel until each has answered or passed its deadline."""
        start = self.context.current_utc_datetime
        attempts = {
            step.name: Attempts(
                step.forward, self.plans[step.name].retries, start + self.plans[step.name].deadline
            )
            for step in stage.steps
        }

        def answered(name: str, answer: Any) -> None:
            self.settled(name, forward_result(attempts[name].activity, answer))
            self.report(Phase.STEP_SETTLED)

        answers = yield from run_with_retries(self.context, attempts, self.trace, answered)
        for step in stage.steps:
            if step.name not in answers:
                self.settled(step.name, timed_out(self.plans[step.name].deadline))

    def compensate(self, stages: Sequence[Stage]) -> SagaRun:
        """Compensate `stages` (latest first). A stage whose failed compensations an operator
        resolved by hand is settled like one whose compensations succeeded, and the earlier
        stages are still compensated: the saga then ends resolved_manually, else compensated."""
        resolution: Resolution | None = None
        for stage in stages:
            steps = to_compensate(stage.steps, self.results, self.saga.fence_refused)
            if not steps:
                continue
            self.stage = stage
            resolution = (yield from self.compensate_stage(steps)) or resolution
        outcome = Outcome.COMPENSATED if resolution is None else Outcome.RESOLVED_MANUALLY
        return self.finish(outcome, resolution)

    def compensate_stage(self, steps: list[Step]) -> Generator[Any, Any, Resolution | None]:
        """Run the compensations of one stage's `steps` in parallel; while some still fail, wait
        for an operator. Returns the operator's resolution, or None once all succeeded."""
        for step in steps:
            self.results[step.name] = compensating(self.results[step.name])
        self.report(Phase.COMPENSATING)
        self.trace.note("compensating", stage=self.stage.name)
        before = {step.name: self.results[step.name] for step in steps}
        by_name = {step.name: step for step in steps}

        def answered(name: str, answer: Any) -> None:
            result = rollback_result(by_name[name], before[name], answer)
            self.settled(name, result)
            if result.status is StepStatus.COMPENSATION_FAILED and not self.context.is_replaying:
                log.error("Saga %s: %s", self.context.instance_id, result.reason)
            self.report(Phase.ROLLBACK_SETTLED)

        def roll_back(which: list[Step]) -> Generator[Any, Any, None]:
            attempts = {
                step.name: Attempts(step.compensate, self.plans[step.name].compensation_retries)
                for step in which
                if step.compensate is not None  # to_compensate takes only steps that have one
            }
            yield from run_with_retries(self.context, attempts, self.trace, answered)

        yield from roll_back(steps)
        while failed := failed_rollbacks(steps, self.results):
            attention = Attention(
                rollbacks=[step.name for step in failed],
                lastError=last_error(self.results, failed),
                operatorRetries=self.operator_retries,
            )
            self.report(Phase.NEEDS_ATTENTION, Outcome.COMPENSATION_FAILED, attention)
            self.trace.note(
                "waiting for an operator",
                rollbacks=", ".join(attention.rollbacks),
                last_error=attention.lastError,
            )
            decision, event = yield from operator_decision(self.context, self.operator_retries)
            self.trace.decision(
                event, decision.action, decision.note, self.operator_retries, decision.traceContext
            )
            if decision.action == "resolve":
                return Resolution(
                    note=decision.note or "",
                    resolvedAt=self.context.current_utc_datetime.isoformat(),
                )
            self.operator_retries += 1
            for step in failed:
                self.results[step.name] = before[step.name]
            self.report(Phase.COMPENSATING)
            yield from roll_back(failed)
        return None

    def settled(self, name: str, result: StepResult) -> None:
        self.results[name] = result
        self.trace.note("step settled", step=name, status=result.status.value, reason=result.reason)

    def finish(self, outcome: Outcome, resolution: Resolution | None = None) -> dict[str, Any]:
        self.report(Phase.FINISHED, outcome)
        self.trace.decided(outcome.value, self.operator_retries)
        return self.ending(outcome, resolution)

    def report(
        self, phase: Phase, outcome: Outcome = Outcome.RUNNING, attention: Attention | None = None
    ) -> None:
        progress = Progress(
            stage=phase,
            outcome=outcome,
            steps=dict(self.results),
            attention=attention,
            activeStage=self.stage.name if len(self.saga.stages) > 1 else None,
        )
        self.context.set_custom_status(progress.to_json())

    def ending(self, outcome: Outcome, resolution: Resolution | None = None) -> dict[str, Any]:
        ending = Ending(
            outcome=outcome,
            steps=dict(self.results),
            operatorRetries=self.operator_retries,
            resolution=resolution,
        )
        return self.saga.shape_result(self.input, ending)


def operator_decision(
    context: df.DurableOrchestrationContext, operator_retries: int
) -> Generator[Any, Any, tuple[OperatorDecision, Any]]:
    """The next operator decision meant for this wait, and the event's task; a malformed one, or
    one meant for an earlier wait (a repeated click), is logged and the wait goes on."""
    while True:
        payload, event = yield from external_event(context, OPERATOR_DECISION)
        try:
            decision = OperatorDecision.model_validate(payload)
        except ValidationError as error:
            if not context.is_replaying:
                log.warning("Saga %s ignored an operator decision: %s", context.instance_id, error)
            continue
        if decision.operatorRetries == operator_retries:
            return decision, event
        if not context.is_replaying:
            log.warning(
                "Saga %s ignored a decision meant for the wait after %d operator retries "
                "(it waits after %d)",
                context.instance_id,
                decision.operatorRetries,
                operator_retries,
            )
