"""saga.actions: which operator actions the monitor offers for a saga, and how it asks for them."""

from __future__ import annotations

import pytest

from saga.actions import available_actions


def names(runtime_status: str, stage: str | None) -> list[str]:
    return [action.name for action in available_actions("order-1", runtime_status, stage)]


@pytest.mark.parametrize("status", ["Pending", "Running", "Suspended"])
def test_a_saga_that_has_not_ended_can_be_terminated(status: str) -> None:
    assert names(status, "started") == ["terminate"]


@pytest.mark.parametrize("status", ["Completed", "Failed", "Terminated"])
def test_an_ended_saga_offers_nothing(status: str) -> None:
    assert names(status, "finished") == []
    assert names(status, "needs_attention") == []


def test_a_saga_waiting_for_an_operator_offers_retry_resolve_and_terminate() -> None:
    assert names("Running", "needs_attention") == ["retry", "resolve", "terminate"]


def test_retry_and_resolve_post_the_operator_command_to_the_compensation_endpoint() -> None:
    retry, resolve, terminate = (
        action.to_json() for action in available_actions("order 7", "Running", "needs_attention")
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
