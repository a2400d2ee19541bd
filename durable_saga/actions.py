"""What an operator may do to a saga, decided from its status, so the monitor only draws buttons.

Each action says how to ask for it (method, path under the app's route prefix, JSON body), what
to confirm, and the one text field it needs, if any. An action a saga cannot take is absent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

from durable_saga.documents import MAX_NOTE_LENGTH
from durable_saga.views import InstanceSnapshot, SagaMonitor

TERMINABLE = frozenset({"Pending", "Running", "Suspended"})
MAX_REASON_LENGTH = 500
DEFAULT_TERMINATE_REASON = "terminated by an operator from the saga monitor"


@dataclass(frozen=True)
class TextField:
    name: str
    label: str
    required: bool
    maxLength: int
    default: str = ""


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    path: str
    body: dict[str, str]
    confirm: str
    field: TextField | None = None
    method: str = "POST"

    def to_json(self) -> dict[str, Any]:
        """The action as the monitor reads it; the fields' names are the JSON's."""
        return asdict(self)


def available_actions(
    monitor: SagaMonitor, saga_id: str, instance: InstanceSnapshot
) -> list[Action]:
    """Terminate while the instance has not ended; retry or resolve while it waits for an
    operator (as POST /api/{collection}/{id}/compensation takes them)."""
    path = f"{monitor.collection}/{quote(saga_id, safe='')}"
    noun = monitor.noun
    actions: list[Action] = []
    if instance.operator_wait() is not None:
        compensation = f"{path}/compensation"
        actions.append(
            Action(
                "retry",
                "Retry rollbacks",
                compensation,
                {"action": "retry"},
                f"Run the failed rollbacks of {noun} {saga_id} again?",
            )
        )
        actions.append(
            Action(
                "resolve",
                "Resolve by hand",
                compensation,
                {"action": "resolve"},
                f"Record that {noun} {saga_id} was put right by hand? The failed rollbacks are "
                "not run again; the saga ends with outcome resolved_manually.",
                TextField(
                    "note",
                    f"What was done (1-{MAX_NOTE_LENGTH} characters)",
                    required=True,
                    maxLength=MAX_NOTE_LENGTH,
                ),
            )
        )
    if instance.runtime_status in TERMINABLE:
        actions.append(
            Action(
                "terminate",
                "Terminate",
                f"{path}/termination",
                {},
                f"Terminate {noun} {saga_id}? The saga stops where it is: nothing is rolled back, "
                f"and {monitor.kept_on_terminate} stays.",
                TextField(
                    "reason",
                    "Reason",
                    required=False,
                    maxLength=MAX_REASON_LENGTH,
                    default=DEFAULT_TERMINATE_REASON,
                ),
            )
        )
    return actions
