"""Sample histories for the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from durable_host import history as h
from durable_host.history import OrchestrationStatus

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def sample_history(instance_id: str, execution_id: str) -> list[h.Event]:
    """Two episodes of one execution: an activity and a timer, then their completions."""
    return [
        h.orchestrator_started(T0),
        h.execution_started(T0, instance_id, execution_id, "Orch", '"input"'),
        h.task_scheduled(T0, 0, "Act", '{"x": 1}'),
        h.timer_created(T0, 1, T0 + timedelta(minutes=5)),
        h.orchestrator_completed(T0),
        h.orchestrator_started(T0),
        h.task_completed(T0, 0, '"done"'),
        h.timer_fired(T0, 1, h.format_timestamp(T0 + timedelta(minutes=5))),
        h.event_raised(T0, "Go", None),
        h.execution_completed(T0, 2, OrchestrationStatus.Completed, '"out"'),
    ]
