"""Which operator actions the monitor offers for an order's saga, and how it asks for them
(durable_saga.actions with the order's monitor)."""

from __future__ import annotations

from typing import Any

import pytest

from durable_saga.actions import Action, available_actions
from durable_saga.views import InstanceSnapshot
from saga.monitor import ORDER_MONITOR


def actions(order_id: str, runtime_status: str, stage: str | None) -> list[Action]:
    """The actions for a saga in that status and stage, as its custom status would report it
    (with what it asks of an operator, in stage needs_attention)."""
    custom_status: dict[str, Any] | None = None
    if stage is not None:
        custom_status = {"stage": stage}
        if stage == "needs_attention":
            custom_status["attention"] = {"rollbacks": ["payment"], "lastError": "refused"}
    instance = InstanceSnapshot(runtime_status, None, custom_status, None, None, None)
    return available_actions(ORDER_MONITOR, order_id, instance)


def names(runtime_status: str, stage: str | None) -> list[str]:
    return [action.name for action in actions("order-1", runtime_status, stage)]


@pytest.mark.parametrize("status", ["Pending", "Running", "Suspended"])
def test_a_saga_that_has_not_ended_can_be_terminated(status: str) -> None:
    assert names(status, "started") == ["terminate"]


@pytest.mark.parametrize("status", ["Completed", "Failed", "Terminated"])
def test_an_ended_saga_offers_nothing(status: str) -> None:
    assert names(status, "finished") == []
    assert names(status, "needs_attention") == []


def test_a_saga_waiting_for_an_operator_offers_retry_resolve_and_terminate() -> None:
    assert names("Running", "needs_attention") == ["retry", "resolve", "terminate"]


def test_a_suspended_saga_offers_no_operator_decision_as_the_endpoint_takes_none() -> None:
    # POST /api/orders/{orderId}/compensation answers 409 unless the saga is Running.
    assert names("Suspended", "needs_attention") == ["terminate"]


def test_retry_and_resolve_post_the_operator_command_to_the_compensation_endpoint() -> None:
    retry, resolve, terminate = (
        action.to_json() for action in actions("order 7", "Running", "needs_attention")
    )

    assert retry["method"] == resolve["method"] == terminate["method"] == "POST"
    assert retry["path"] == resolve["path"] == "orders/order%207/compensation"
    assert retry["body"] == {"action": "retry"}
    assert retry["field"] is None
    assert resolve["body"] == {"action": "resolve"}
    assert resolve["field"] == {
        "name": "note",
        "label": "What was done (1-500 characters)",
        "required": True,
        "maxLength": 500,
        "default": "",
    }
    assert terminate["path"] == "orders/order%207/termination"
    assert terminate["field"]["name"] == "reason" and not terminate["field"]["required"]
    assert "order 7" in retry["confirm"] and "nothing is rolled back" in terminate["confirm"]
