"""The GET /api/orders query, and how instances become the list's orders (durable_saga.listing
with the order's monitor)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from durable_saga.errors import InvalidRequest
from durable_saga.listing import ListQuery, parse_list_query, saga_page, saga_row
from saga.monitor import ORDER_MONITOR

ORDER = {
    "orderId": "order-1002",
    "customerId": "bob",
    "lines": [{"sku": "SKU-RARE", "quantity": 1, "unitPrice": "100.00"}],
    "amount": "100.00",
}
PENDING = {"status": "pending", "reason": None}
SUCCEEDED = {"status": "succeeded", "reason": None}


def instance(
    order_id: str = "order-1002",
    status: str = "Running",
    created: str = "2026-11-28T00:31:00Z",
    custom: Any = None,
    output: Any = None,
    name: str = "OrderSaga",
) -> dict[str, Any]:
    """An element of the instance query's answer; the input is JSON text, as the client sent it."""
    return {
        "name": name,
        "instanceId": order_id,
        "runtimeStatus": status,
        "input": json.dumps({"order": {**ORDER, "orderId": order_id}}),
        "customStatus": custom,
        "output": output,
        "createdTime": created,
        "lastUpdatedTime": created,
    }


def progress(stage: str, outcome: str = "running") -> dict[str, Any]:
    return {"stage": stage, "outcome": outcome, "steps": {"order": SUCCEEDED, "payment": PENDING}}


def result(outcome: str) -> dict[str, Any]:
    steps = {"order": SUCCEEDED, "payment": SUCCEEDED}
    return {"orderId": "order-1", "outcome": outcome, "amount": "100.00", "steps": steps}


def errors(params: dict[str, str]) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as refused:
        parse_list_query(params)
    return {error.field: error.message for error in refused.value.errors}


def test_no_parameters_is_the_first_page_of_25_of_everything() -> None:
    query = parse_list_query({})

    assert query == ListQuery()
    assert query.durable_parameters() == {"top": "25", "showInput": "true"}


def test_every_parameter_is_read_and_the_store_side_ones_passed_on() -> None:
    query = parse_list_query(
        {
            "top": "100",
            "continuationToken": "abc==",
            "runtimeStatus": "running, Pending,RUNNING",
            "stage": "needs_attention,finished",
            "outcome": "compensated",
            "createdFrom": "2026-11-28T00:00:00Z",
            "createdTo": "2026-11-28T02:00:00+01:00",
            "code": "the function key, which Azure reads",
        }
    )

    assert query.top == 100
    assert query.continuation == "abc=="
    assert query.runtime_statuses == ("Running", "Pending")
    assert query.stages == {"needs_attention", "finished"}
    assert query.outcomes == {"compensated"}
    assert query.durable_parameters() == {
        "top": "100",
        "showInput": "true",
        "runtimeStatus": "Running,Pending",
        "createdTimeFrom": "2026-11-28T00:00:00.000000Z",
        "createdTimeTo": "2026-11-28T01:00:00.000000Z",
    }


def test_a_time_without_an_offset_is_utc() -> None:
    query = parse_list_query({"createdFrom": "2026-11-28T00:31"})

    assert query.created_from == datetime(2026, 11, 28, 0, 31, tzinfo=UTC)


@pytest.mark.parametrize("top", ["0", "101", "-1", "ten", "2.5"])
def test_top_is_a_whole_number_from_1_to_100(top: str) -> None:
    assert errors({"top": top}) == {"top": "must be a whole number from 1 to 100"}


def test_every_bad_value_is_named_at_once() -> None:
    found = errors(
        {
            "runtimeStatus": "Running,Sleeping",
            "stage": "done",
            "outcome": "won",
            "createdFrom": "yesterday",
            "continuationToken": "x" * 5000,
        }
    )

    assert set(found) == {"runtimeStatus", "stage", "outcome", "createdFrom", "continuationToken"}
    assert found["runtimeStatus"].startswith("'Sleeping' is not one of: Pending, Running")
    assert "needs_attention" in found["stage"]
    assert "resolved_manually" in found["outcome"]
    assert "ISO 8601" in found["createdFrom"]


def test_an_empty_time_range_is_refused() -> None:
    found = errors({"createdFrom": "2026-11-28T02:00:00Z", "createdTo": "2026-11-28T01:00:00Z"})

    assert found == {"createdTo": "must not be before createdFrom"}


def test_a_running_saga_shows_its_stage_and_the_amount_it_was_started_with() -> None:
    row = saga_row(ORDER_MONITOR, instance(custom=progress("step_settled")))

    assert row == {
        "orderId": "order-1002",
        "customerId": "bob",
        "amount": "100.00",
        "runtimeStatus": "Running",
        "outcome": "running",
        "stage": "step_settled",
        "steps": {"order": SUCCEEDED, "payment": PENDING},
        "createdTime": "2026-11-28T00:31:00Z",
        "lastUpdatedTime": "2026-11-28T00:31:00Z",
    }


def test_a_completed_saga_shows_its_result_and_its_last_stage() -> None:
    row = saga_row(
        ORDER_MONITOR,
        instance(status="Completed", custom=progress("finished"), output=result("completed")),
    )

    assert row is not None
    assert (row["outcome"], row["stage"], row["amount"]) == ("completed", "finished", "100.00")
    assert row["steps"] == {"order": SUCCEEDED, "payment": SUCCEEDED}


def test_a_pending_saga_has_no_stage_or_outcome_yet() -> None:
    row = saga_row(ORDER_MONITOR, instance(status="Pending"))

    assert row is not None
    assert (row["outcome"], row["stage"], row["customerId"]) == (None, None, "bob")
    assert row["steps"] == {"order": PENDING, "payment": PENDING}


def test_instances_of_other_orchestrations_are_not_orders() -> None:
    assert saga_row(ORDER_MONITOR, instance(name="NightlyReport")) is None


def test_a_page_keeps_the_matching_orders_newest_first_and_passes_the_token_on() -> None:
    instances = [
        instance("a", created="2026-11-28T00:31:00Z", custom=progress("started")),
        instance("b", created="2026-11-28T00:33:00Z", custom=progress("finished", "compensated")),
        instance("c", created="2026-11-28T00:32:00Z", custom=progress("finished", "compensated")),
        instance("d", created="2026-11-28T00:34:00Z", name="Other"),
    ]

    everything = saga_page(ORDER_MONITOR, instances, parse_list_query({}), "next")
    compensated = saga_page(
        ORDER_MONITOR, instances, parse_list_query({"outcome": "compensated"}), None
    )
    started = saga_page(ORDER_MONITOR, instances, parse_list_query({"stage": "started"}), None)

    assert [row["orderId"] for row in everything["orders"]] == ["b", "c", "a"]
    assert everything["continuationToken"] == "next"
    assert [row["orderId"] for row in compensated["orders"]] == ["b", "c"]
    assert [row["orderId"] for row in started["orders"]] == ["a"]
