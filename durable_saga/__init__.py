"""durable_saga: sagas on Azure Durable Functions (Python), declared rather than programmed.

A saga is a `Saga` of ordered `Stage`s, each one or more `Step`s run in parallel; the toolkit
runs it (`orchestrator`), reports its progress and result, draws its timeline and serves its
monitor (a `SagaMonitor`, with durable_saga.monitor's endpoints). See docs/toolkit.md.
"""

from durable_saga.activity import saga_activity
from durable_saga.declaration import Retries, Saga, Stage, Step
from durable_saga.documents import SagaPolicy, StepOutcome
from durable_saga.orchestrator import OPERATOR_DECISION, orchestrator
from durable_saga.views import Column, DetailsPanel, SagaMonitor

__all__ = [
    "OPERATOR_DECISION",
    "Column",
    "DetailsPanel",
    "Retries",
    "Saga",
    "SagaMonitor",
    "SagaPolicy",
    "Stage",
    "Step",
    "StepOutcome",
    "orchestrator",
    "saga_activity",
]
