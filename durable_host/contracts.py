"""The seam between the function loader (what the app's code is) and the engine (when it runs).

The engine only sees function names and JSON text, exactly what the real host exchanges with the
Python worker, so either side can change without the other noticing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class FunctionKind(StrEnum):
    HTTP = "http"
    ORCHESTRATOR = "orchestrator"
    ACTIVITY = "activity"
    ENTITY = "entity"
    OTHER = "other"


class ActivityError(Exception):
    """The activity's own code raised: becomes TaskFailed(Reason=reason, Details=details)."""

    def __init__(self, reason: str, details: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class FunctionInvocationError(Exception):
    """The function could not be run at all (not found, wrong kind, broken module)."""


class FunctionInvoker(Protocol):
    def kind_of(self, name: str) -> FunctionKind | None:
        """The function's kind, or None when the app has no function of that name (case-insensitive,
        as the host matches names)."""
        ...

    def call_orchestrator(self, name: str, context_json: str) -> str:
        """Call the orchestrator with the context JSON on this thread; return the orchestrator
        state JSON text (the engine calls it from a worker thread).

        When the SDK raises with an `$OutOfProcData$` tail, the state JSON after it
        (which carries `error`) is returned, as the real host extracts it. Otherwise raises
        FunctionInvocationError.
        """
        ...

    async def run_activity(self, name: str, input_text: str) -> str:
        """Call the activity with the action's `input` text; return its output as JSON text.

        Raises ActivityError when the activity's code raised.
        """
        ...
