"""A saga, declared: ordered stages of steps that run in parallel, each step a forward activity
and the activity that compensates it (or none), with retries and a deadline.

    TRIP = Saga(
        "TripSaga",
        Stage("hold", Step("flight", "HoldFlight", "ReleaseFlight"),
                      Step("hotel", "HoldHotel", "ReleaseHotel")),
        Stage("charge", Step("card", "ChargeCard", "RefundCard",
                             retries=Retries(5, timedelta(seconds=2)))),
        Stage("notify", Step("email", "SendConfirmation")),  # nothing to undo
    )

The declaration is data: the orchestrator (durable_saga.orchestrator), the custom status, the
result, the timeline and the monitor are all read from it. Nothing here runs or does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from durable_saga.documents import (
    MAX_STEP_DEADLINE_SECONDS,
    TRACE_CONTEXT_FIELD,
    Ending,
    SagaPolicy,
    split_trace_context,
)

# Step and stage names are JSON keys of the status and the lanes' keys on the timeline.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class Retries:
    """How often an activity is tried, and how long it waits between tries."""

    attempts: int
    interval: timedelta

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"a step is tried at least once, not {self.attempts} times")
        if self.interval <= timedelta(0):
            raise ValueError(f"the wait between tries must be positive, not {self.interval}")


@dataclass(frozen=True)
class Step:
    """One step: the activity that does it, the activity that undoes it (None when there is
    nothing to undo), and, when it differs from the saga's defaults, its own retries and
    deadline. Every activity of the saga receives the same payload (see Saga.payload)."""

    name: str
    forward: str
    compensate: str | None = None
    retries: Retries | None = None
    compensation_retries: Retries | None = None
    deadline: timedelta | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        _check_name("step", self.name)
        if self.deadline is not None and not (
            timedelta(0) < self.deadline <= timedelta(seconds=MAX_STEP_DEADLINE_SECONDS)
        ):
            raise ValueError(
                f"step {self.name!r}: a deadline is more than 0 and at most "
                f"{MAX_STEP_DEADLINE_SECONDS} s (six days, one durable timer)"
            )
        if self.compensation_retries is not None and self.compensate is None:
            raise ValueError(f"step {self.name!r} has compensation retries but no compensation")

    @property
    def title(self) -> str:
        """How people read the step's name: its label, or the name with spaces, capitalised."""
        return self.label or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True, init=False)
class Stage:
    """Steps that run in parallel; the saga decides only once all of them have settled."""

    name: str
    steps: tuple[Step, ...]

    def __init__(self, name: str, *steps: Step) -> None:
        _check_name("stage", name)
        if not steps:
            raise ValueError(f"stage {name!r} has no step")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "steps", steps)


@dataclass(frozen=True)
class StepPlan:
    """A step with the policy it runs under: its own settings, else the saga's."""

    step: Step
    retries: Retries
    compensation_retries: Retries
    deadline: timedelta


# A saga's result: its declared shape, built from its input and how it ended.
ResultShape = Callable[[Any, Ending], BaseModel | Mapping[str, Any]]


@dataclass(frozen=True, init=False)
class Saga:
    """A saga: its orchestrator's function name and its stages, in order.

    - `input`: the model the orchestrator's input is validated with (None: taken as it is). A
      `policy` field of it (a SagaPolicy) overrides `policy` for that saga.
    - `payload`: the field of the input every activity receives (None: the whole input).
    - `policy`: the saga-wide retries and deadline; a step's own settings win over both.
    - `fence_refused`: also compensate a step its service refused, so that a late or duplicated
      forward attempt meets a fence (the compensation of a step that took no effect must then
      be a no-op that records one). Steps that succeeded, failed or timed out are always
      compensated, since they may have taken effect.
    - `result`: builds the saga's output from its input and its Ending (default: the Ending).
    """

    name: str
    stages: tuple[Stage, ...]
    input: type[BaseModel] | None
    payload: str | None
    policy: SagaPolicy
    fence_refused: bool
    result: ResultShape | None

    def __init__(
        self,
        name: str,
        *stages: Stage,
        input: type[BaseModel] | None = None,
        payload: str | None = None,
        policy: SagaPolicy | None = None,
        fence_refused: bool = False,
        result: ResultShape | None = None,
    ) -> None:
        if not stages:
            raise ValueError(f"saga {name!r} has no stage")
        _unique("stage", [stage.name for stage in stages])
        steps = [step for stage in stages for step in stage.steps]
        _unique("step", [step.name for step in steps])
        _unique("activity", [a for s in steps for a in (s.forward, s.compensate) if a is not None])
        if input is not None and payload is not None and payload not in input.model_fields:
            raise ValueError(f"saga {name!r}: {input.__name__} has no field {payload!r}")
        if input is not None and TRACE_CONTEXT_FIELD in input.model_fields:
            raise ValueError(
                f"saga {name!r}: {input.__name__} has a field {TRACE_CONTEXT_FIELD!r}, which "
                "the toolkit keeps for the saga's trace context"
            )
        for attribute, value in (
            ("name", name),
            ("stages", stages),
            ("input", input),
            ("payload", payload),
            ("policy", policy or SagaPolicy()),
            ("fence_refused", fence_refused),
            ("result", result),
        ):
            object.__setattr__(self, attribute, value)

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every step, stage by stage, in declaration order."""
        return tuple(step for stage in self.stages for step in stage.steps)

    def stage_of(self, step: Step) -> Stage:
        return next(stage for stage in self.stages if step in stage.steps)

    def activities(self) -> Iterator[tuple[Step, str, bool]]:
        """(step, activity, whether it compensates) for every activity the saga calls."""
        for step in self.steps:
            yield step, step.forward, False
        for step in self.steps:
            if step.compensate is not None:
                yield step, step.compensate, True

    def read_input(self, raw: Any) -> Any:
        """The orchestrator's input, validated; ValueError names the model and every problem.
        The toolkit's trace context field is not the domain's: it is read apart
        (documents.split_trace_context) and never reaches the model."""
        raw, _ = split_trace_context(raw)
        if self.input is None:
            return raw
        try:
            return self.input.model_validate(raw)
        except ValidationError as error:
            raise ValueError(
                f"{self.name} input is not a valid {self.input.__name__}: {error}"
            ) from error

    def payload_of(self, saga_input: Any) -> Any:
        """What every activity receives: the payload field of the input (as plain JSON)."""
        document = (
            saga_input.model_dump(mode="json") if isinstance(saga_input, BaseModel) else saga_input
        )
        if self.payload is None:
            return document
        return document[self.payload]

    def policy_of(self, saga_input: Any) -> SagaPolicy:
        """The input's policy when it carries one, else the declaration's."""
        policy = getattr(saga_input, "policy", None)
        return policy if isinstance(policy, SagaPolicy) else self.policy

    def plan(self, policy: SagaPolicy) -> dict[str, StepPlan]:
        """Every step by name with the retries and deadline it runs under."""
        step_retries = Retries(
            policy.stepRetryAttempts, timedelta(milliseconds=policy.stepRetryIntervalMs)
        )
        compensation_retries = Retries(
            policy.compensationRetryAttempts,
            timedelta(milliseconds=policy.compensationRetryIntervalMs),
        )
        deadline = timedelta(seconds=policy.stepDeadlineSeconds)
        return {
            step.name: StepPlan(
                step,
                step.retries or step_retries,
                step.compensation_retries or compensation_retries,
                step.deadline or deadline,
            )
            for step in self.steps
        }

    def shape_result(self, saga_input: Any, ending: Ending) -> dict[str, Any]:
        """The orchestrator's output, as plain JSON."""
        shaped = ending if self.result is None else self.result(saga_input, ending)
        if isinstance(shaped, BaseModel):
            return shaped.model_dump(mode="json")
        return dict(shaped)


def _check_name(kind: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{kind} name {name!r}: 1-40 lowercase letters, digits or '_', starting with a letter"
        )


def _unique(kind: str, names: list[str]) -> None:
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"each {kind} appears once in a saga; twice: {', '.join(twice)}")
