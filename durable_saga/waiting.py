"""How a saga waits: a stage's steps in parallel, each with its own retries and deadline, its
compensations in parallel, each with its own retries, and an operator's decision. What the saga
decides is in durable_saga.orchestrator; this is the mechanics, and the one place that keeps the
host's rules.

They are shaped by the Functions host as much as by the SDK. The host replays the orchestrator's
actions on DurableTask (OutOfProcOrchestrationShim.ProcessAsyncActionsV2): it starts each
top-level action only once the one before it has completed, numbers every task it starts (retry
attempts and retry timers of CallActivityWithRetry included, taken in .NET by RetryInterceptor as
the failures replay), and completes an instance only when nothing it started is still open
(TaskOrchestrationExecutor: `if (!this.context.HasOpenTasks)`). A cancelled timer completes at the
very start of a replay. Three rules follow, and every wait below keeps them:

1. A top-level action must be complete, for the host, by the time the orchestrator moves past
   it; otherwise the host starts what follows late (or, after a cancellation, early, ahead of
   retry timers it numbers later: the replay then fails as non-deterministic).
2. Nothing may stay open behind a decided saga: every timer is fired or cancelled, and no retry
   chain runs on in .NET.
3. Every activity retries by hand (an attempt, then a durable timer, then the next attempt, each
   an action of its own) rather than with call_activity_with_retry: a forward step's wait ends
   early when its deadline fires, and a .NET retry chain cannot be cut short; and each attempt
   gets a payload of its own (the attempt's trace context), where a .NET chain sends every
   retry the payload of the first.

So each wait is its own action: the attempts and retry timers still open and, while a step with
a deadline is waited on, a fresh timer due at the earliest deadline of those steps ("the guard"),
raced with task_any. When the race ends by anything but the guard, the guard is cancelled, so for
the host that action completes at once on every replay and the next wait starts where the SDK
starts it. When the guard fires, the steps whose deadline it is are given up: their retry timers
are cancelled; an attempt already running stays open until it returns (DurableTask cannot cancel
an activity), so the instance reports Running for at most that long after the saga decided. Steps
with a later deadline are waited on, under a guard of their own. Compensations have no deadline:
their waits race only their own attempts and retry timers, so they set no guard at all.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import azure.durable_functions as df

from durable_saga.declaration import Retries
from durable_saga.documents import from_json_text

K = TypeVar("K", bound=Hashable)
K_in = TypeVar("K_in", bound=Hashable, contravariant=True)

# The orchestrator yields SDK tasks and is sent their results; the SDK ships no type hints.
Waiting = Generator[Any, Any, Any]


@dataclass(frozen=True)
class Attempts:
    """How one activity is tried: its name, its retries, and when the saga stops waiting on it
    (None: never, as for a compensation)."""

    activity: str
    retries: Retries
    deadline: datetime | None = None


class Attempting(Protocol[K_in]):
    """Who schedules each attempt (with the payload it carries) and hears how it ended: the
    saga's trace (durable_saga.saga_trace)."""

    def call(self, key: K_in, activity: str) -> Any:
        """Schedule the next attempt of `activity` for `key`; its task."""

    def answered(self, task: Any) -> None:
        """An attempt's task completed (an answer, or an error)."""

    def cut_off(self, task: Any, guard: Any, deadline: datetime) -> None:
        """An attempt was given up when its step's deadline fired (`guard`, the timer)."""


@dataclass
class _Step(Generic[K]):
    """One step's attempts: the attempt in flight, or the timer before the next one."""

    key: K
    plan: Attempts
    attempts: int = 0
    attempt: Any = None
    retry_timer: Any = None
    answered: bool = False
    given_up: bool = False
    answer: Any = None


def run_with_retries(
    context: df.DurableOrchestrationContext,
    steps: Mapping[K, Attempts],
    attempting: Attempting[K],
    on_answer: Callable[[K, Any], None],
) -> Generator[Any, Any, dict[K, Any]]:
    """Run each step's activity (in parallel) until it answers, retrying it after a failure,
    until every step has answered or its deadline has passed. An answer is what the activity
    returned, or the error of its last attempt. Returns the answers; a step missing from them
    was cut off by its deadline. `attempting` schedules each attempt and hears how each ended;
    `on_answer` hears of each step's answer as it arrives."""
    running = [_Step(key, plan) for key, plan in steps.items()]
    for step in running:
        _attempt(step, attempting)
    while waited := [step for step in running if not (step.answered or step.given_up)]:
        open_tasks = [_open_task(step) for step in waited]
        deadlines = [step.plan.deadline for step in waited if step.plan.deadline is not None]
        if not deadlines:
            yield context.task_any(open_tasks)
        else:
            due = min(deadlines)
            guard = context.create_timer(due)
            yield context.task_any([*open_tasks, guard])
            if guard.is_completed:
                for step in waited:
                    if step.plan.deadline is not None and step.plan.deadline <= due:
                        step.given_up = True
                        if step.attempt is not None:
                            attempting.cut_off(step.attempt, guard, due)
                        if step.retry_timer is not None and not step.retry_timer.is_completed:
                            step.retry_timer.cancel()
            else:
                guard.cancel()
        for step in waited:
            if step.given_up:
                continue
            if step.attempt is not None and step.attempt.is_completed:
                attempting.answered(step.attempt)
                result = step.attempt.result
                if isinstance(result, BaseException) and step.attempts < step.plan.retries.attempts:
                    fire_at = context.current_utc_datetime + step.plan.retries.interval
                    step.attempt, step.retry_timer = None, context.create_timer(fire_at)
                else:
                    step.answered, step.answer = True, result
                    on_answer(step.key, result)
            elif step.retry_timer is not None and step.retry_timer.is_completed:
                step.retry_timer = None
                _attempt(step, attempting)
    return {step.key: step.answer for step in running if step.answered}


def _attempt(step: _Step[K], attempting: Attempting[K]) -> None:
    step.attempts += 1
    step.attempt = attempting.call(step.key, step.plan.activity)


def _open_task(step: _Step[Any]) -> Any:
    return step.attempt if step.attempt is not None else step.retry_timer


def external_event(context: df.DurableOrchestrationContext, name: str) -> Waiting:
    """Wait for the next event of that name (no timer: nothing keeps the instance busy) and
    return its payload and its task (whose is_played says whether it is new in this episode).
    The Python client raises an event's data as JSON text, the HTTP API as parsed JSON: either
    arrives here as the parsed value."""
    event = context.wait_for_external_event(name)
    payload = yield event
    return from_json_text(payload), event
