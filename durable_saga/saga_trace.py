"""A saga's trace as its orchestrator writes it: the payload of every attempt, and the spans of
what is new in the episode.

The trace context the starter put in the saga's input names the request span; everything here
is derived from it, the instance, its execution and the orchestrator's own (deterministic)
progress, so replaying a history gives the same payloads, and reporting a span depends only on
whether the event that ends it is new in this episode (the SDK marks a task played when its
completion lies before the episode's last OrchestratorStarted). Nothing stays open between
episodes: each span is reported whole, with the times the history recorded, when it ends. A saga
started without a trace context (tracing was off) sends its activities their payload as it is
and reports nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

from durable_saga import tracing
from durable_saga.decisions import forward_result, timed_out
from durable_saga.declaration import Saga, StepPlan
from durable_saga.documents import StepStatus, TraceContext, traced_payload
from durable_saga.traces import (
    TIMED_OUT,
    AttemptSpan,
    AttributeValue,
    SagaSpans,
    SpanEvent,
    attempt_record,
    decision_record,
    saga_record,
)

_OUTCOMES = {
    StepStatus.SUCCEEDED: "succeeded",
    StepStatus.REJECTED: "refused",
    StepStatus.FAILED: "failed",
}


class SagaTrace:
    """One saga execution's trace, rebuilt by every episode of its orchestrator."""

    def __init__(
        self,
        saga: Saga,
        context: df.DurableOrchestrationContext,
        payload: Any,
        trace: TraceContext | None,
        plans: Mapping[str, StepPlan],
    ) -> None:
        self.saga = saga
        self.context = context
        self.payload = payload
        self.plans = plans
        self.steps = {step.name: step for step in saga.steps}
        self.spans = (
            None
            if trace is None
            else SagaSpans(saga.name, context.instance_id, _execution_id(context), trace)
        )
        self.started = context.current_utc_datetime
        self.attempts: dict[str, int] = {}
        self.scheduled: dict[Any, AttemptSpan] = {}  # by task
        self.events: list[SpanEvent] = []
        self.decisions = 0
        self._ended: dict[Any, datetime] | None = None

    def call(self, step_name: str, activity: str) -> Any:
        """Schedule the next attempt of `activity` (the step's forward or its compensation) and
        return its task. Its payload carries the attempt's own span when the saga is traced."""
        if self.spans is None:
            return self.context.call_activity(activity, self.payload, expected_type=dict)
        number = self.attempts.get(activity, 0) + 1
        self.attempts[activity] = number
        payload = traced_payload(self.payload, self.spans.attempt_context(activity, number))
        task = self.context.call_activity(activity, payload, expected_type=dict)
        step = self.steps[step_name]
        self.scheduled[task] = AttemptSpan(
            activity=activity,
            step=step.name,
            stage=self.saga.stage_of(step).name,
            compensates=activity != step.forward,
            attempt=number,
            scheduled=self.context.current_utc_datetime,
        )
        return task

    def answered(self, task: Any) -> None:
        """An attempt's task completed: report its span if the completion is new."""
        if self.spans is None or task.is_played:
            return
        attempt = self.scheduled[task]
        # Whether forward or compensating, an attempt's answer reads the same way.
        result = forward_result(attempt.activity, task.result)
        failed = result.status is StepStatus.FAILED
        ended = self._completion_time(task)
        record = attempt_record(
            self.spans, attempt, ended, _OUTCOMES[result.status], result.reason, failed
        )
        tracing.emit(record)

    def cut_off(self, task: Any, guard: Any, deadline: datetime) -> None:
        """An attempt still ran when its step's deadline fired (the guard timer): report its
        span, ended at the deadline, if the firing is new. Its answer, whenever it comes,
        changes nothing and is not reported again."""
        if self.spans is None or guard.is_played:
            return
        attempt = self.scheduled[task]
        reason = timed_out(self.plans[attempt.step].deadline).reason
        tracing.emit(attempt_record(self.spans, attempt, deadline, TIMED_OUT, reason, True))

    def note(self, name: str, **attributes: AttributeValue | None) -> None:
        """Something the saga span tells as an event: a stage started, a step settled, ..."""
        if self.spans is None:
            return
        kept = {f"saga.{key}": value for key, value in attributes.items() if value is not None}
        self.events.append(SpanEvent(name, self.context.current_utc_datetime, kept))

    def decision(
        self,
        event: Any,
        action: str,
        note: str | None,
        operator_retries: int,
        sent_from: TraceContext | None,
    ) -> None:
        """An operator's decision the saga takes: its span, if the event is new."""
        self.decisions += 1
        if self.spans is None or event.is_played:
            return
        received = self.context.current_utc_datetime
        record = decision_record(
            self.spans, self.decisions, action, note, operator_retries, sent_from, received
        )
        tracing.emit(record)

    def decided(self, outcome: str, operator_retries: int) -> None:
        """The saga has its outcome: its own span, if it was decided in this episode."""
        if self.spans is None or self.context.is_replaying:
            return
        record = saga_record(
            self.spans,
            self.started,
            self.context.current_utc_datetime,
            outcome,
            operator_retries,
            tuple(self.events),
        )
        tracing.emit(record)

    def _completion_time(self, task: Any) -> datetime:
        """When the host recorded the task's completion: its event is among the episode's new
        ones (the task ids the SDK matches completions by are the events' TaskScheduledId)."""
        if self._ended is None:
            self._ended = {
                getattr(event, "TaskScheduledId", None): event.timestamp
                for event in _new_events(self.context)
                if event.event_type
                in (HistoryEventType.TASK_COMPLETED, HistoryEventType.TASK_FAILED)
            }
        ended: datetime = self._ended.get(task.id, self.context.current_utc_datetime)
        return ended


def _new_events(context: df.DurableOrchestrationContext) -> list[Any]:
    """The events after the history's last OrchestratorStarted: what this episode brought."""
    history = context.histories
    starts = [
        i
        for i, event in enumerate(history)
        if event.event_type == HistoryEventType.ORCHESTRATOR_STARTED
    ]
    return history[starts[-1] + 1 :] if starts else []


def _execution_id(context: df.DurableOrchestrationContext) -> str:
    """The execution's id, from its ExecutionStarted event (a restart of the instance is a new
    execution, whose spans are not this one's)."""
    for event in context.histories:
        if event.event_type == HistoryEventType.EXECUTION_STARTED:
            instance = getattr(event, "OrchestrationInstance", None) or {}
            return str(instance.get("ExecutionId") or "")
    return ""
