"""The order saga's timeline: its histories as the Durable status API shows them
(showHistory=true), in lanes (durable_saga.timeline)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from durable_saga.timeline import (
    AttemptStatus,
    Timeline,
    build_timeline,
    parse_time,
    timeline_json,
)
from saga.workflow import ORDER_SAGA

T0 = datetime(2026, 11, 28, 0, 31, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)


def at(ms: float) -> str:
    """A timestamp `ms` after T0 in the host's format (seven fractional digits, Z)."""
    return (T0 + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def started(ms: float = 0) -> dict[str, Any]:
    return {"EventType": "ExecutionStarted", "Timestamp": at(ms), "FunctionName": "OrderSaga"}


def completed(
    name: str, scheduled: float, ms: float, ok: bool = True, reason: Any = None
) -> dict[str, Any]:
    return {
        "EventType": "TaskCompleted",
        "Timestamp": at(ms),
        "ScheduledTime": at(scheduled),
        "FunctionName": name,
        "Result": {"ok": ok, "reason": reason},
    }


def failed(name: str, scheduled: float, ms: float, error: str) -> dict[str, Any]:
    return {
        "EventType": "TaskFailed",
        "Timestamp": at(ms),
        "ScheduledTime": at(scheduled),
        "FunctionName": name,
        "Reason": f"Activity function '{name}' failed: {error}",
        "Details": "{}",
    }


def scheduled(name: str, ms: float) -> dict[str, Any]:
    return {"EventType": "TaskScheduled", "Timestamp": at(ms), "Name": name}


def timer(ms: float, fire_ms: float) -> dict[str, Any]:
    return {"EventType": "TimerCreated", "Timestamp": at(ms), "FireAt": at(fire_ms)}


def fired(ms: float, fire_ms: float) -> dict[str, Any]:
    return {"EventType": "TimerFired", "Timestamp": at(ms), "FireAt": at(fire_ms)}


def finished(ms: float, status: str = "Completed") -> dict[str, Any]:
    return {"EventType": "ExecutionCompleted", "Timestamp": at(ms), "OrchestrationStatus": status}


def decision(ms: float, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "EventType": "EventRaised",
        "Timestamp": at(ms),
        "Name": "OperatorDecision",
        "Input": json.dumps(document),
    }


def lanes(timeline: Timeline) -> dict[str, list[tuple[int, AttemptStatus, str | None]]]:
    return {
        lane.spec.key: [(a.number, a.status, a.detail) for a in lane.attempts]
        for lane in timeline.lanes
    }


DEADLINE = 60_000
REFUSAL = "payment for order order-1002 refused: customer bob has 10.00"


def test_a_refused_payment_and_both_rollbacks_each_have_a_lane() -> None:
    history = [
        started(),
        timer(3, DEADLINE),
        completed("PaymentActivity", 3, 33, ok=False, reason=REFUSAL),
        completed("OrderActivity", 3, 41),
        completed("RollbackPaymentActivity", 41, 50, reason="nothing to refund"),
        completed("RollbackOrderActivity", 41, 60),
        finished(61),
    ]

    timeline = build_timeline(ORDER_SAGA, history, "Completed", NOW)

    assert lanes(timeline) == {
        "order": [(1, AttemptStatus.SUCCEEDED, None)],
        "payment": [(1, AttemptStatus.REFUSED, REFUSAL)],
        "order_rollback": [(1, AttemptStatus.SUCCEEDED, None)],
        "payment_rollback": [(1, AttemptStatus.SUCCEEDED, "nothing to refund")],
    }
    assert [lane.spec.label for lane in timeline.lanes] == [
        "Order",
        "Payment",
        "Order rollback",
        "Payment rollback",
    ]
    assert timeline.deadline is not None and timeline.deadline.fired is None
    assert timeline.ended == parse_time(at(61))
    # The cancelled deadline a minute out does not stretch the window the bars are drawn in.
    assert timeline.end == parse_time(at(60))
    document = timeline_json(timeline)
    assert document["durationMs"] == 60
    payment = document["lanes"][1]["attempts"][0]
    assert (payment["fromMs"], payment["toMs"], payment["durationMs"]) == (3, 33, 30)
    assert document["deadline"]["atMs"] == DEADLINE
    assert [mark["kind"] for mark in document["marks"]] == ["started", "completed"]


def test_retries_are_attempts_with_waits_between_them_and_errors_without_the_prefix() -> None:
    history = [
        started(),
        timer(1, DEADLINE),
        failed("PaymentActivity", 1, 12, "InjectedFault: before the step ran"),
        timer(13, 113),
        completed("OrderActivity", 1, 27),
        fired(114, 113),
        failed("PaymentActivity", 114, 142, "InjectedFault: after the step committed"),
        timer(143, 243),
        fired(244, 243),
        failed("PaymentActivity", 245, 251, "InjectedFault: before the step ran"),
        timer(252, 252),
        fired(253, 252),
        completed("RollbackPaymentActivity", 256, 277),
        completed("RollbackOrderActivity", 256, 284),
        fired(DEADLINE + 1, DEADLINE),
        finished(DEADLINE + 2),
    ]

    timeline = build_timeline(ORDER_SAGA, history, "Completed", NOW)

    payment = timeline.lanes[1]
    assert [(a.number, a.status, a.detail) for a in payment.attempts] == [
        (1, AttemptStatus.FAILED, "InjectedFault: before the step ran"),
        (2, AttemptStatus.FAILED, "InjectedFault: after the step committed"),
        (3, AttemptStatus.FAILED, "InjectedFault: before the step ran"),
    ]
    assert [(w.fire_at, w.fired) for w in payment.waits] == [
        (parse_time(at(113)), parse_time(at(114))),
        (parse_time(at(243)), parse_time(at(244))),
        (parse_time(at(252)), parse_time(at(253))),
    ]
    assert timeline.lanes[0].waits == []
    assert timeline.deadline is not None
    assert timeline.deadline.fired == parse_time(at(DEADLINE + 1))
    # The deadline fired long after the saga had decided: the window ends with the rollbacks.
    assert timeline_json(timeline)["durationMs"] == 284


def test_a_step_past_its_deadline_is_abandoned_and_the_deadline_fired() -> None:
    history = [
        started(),
        scheduled("PaymentActivity", 2),
        timer(2, 1002),
        completed("OrderActivity", 2, 23),
        fired(1003, 1002),
        completed("RollbackPaymentActivity", 1003, 1021),
        completed("RollbackOrderActivity", 1003, 1023),
        finished(1026),
    ]

    timeline = build_timeline(ORDER_SAGA, history, "Completed", NOW)

    assert lanes(timeline)["payment"] == [
        (1, AttemptStatus.ABANDONED, "no answer before the saga ended")
    ]
    document = timeline_json(timeline)
    abandoned = document["lanes"][1]["attempts"][0]
    assert (abandoned["fromMs"], abandoned["toMs"], abandoned["ended"]) == (2, 1026, None)
    assert document["deadline"] == {
        "fireAt": "2026-11-28T00:31:01.002Z",
        "atMs": 1002,
        "fired": "2026-11-28T00:31:01.003Z",
    }


def test_an_attempt_still_in_flight_runs_until_now() -> None:
    history = [
        started(),
        scheduled("PaymentActivity", 2),
        timer(2, DEADLINE),
        completed("OrderActivity", 2, 20),
    ]

    timeline = build_timeline(ORDER_SAGA, history, "Running", T0 + timedelta(seconds=5))

    assert lanes(timeline)["payment"] == [(1, AttemptStatus.RUNNING, None)]
    assert timeline.ended is None
    running = timeline_json(timeline)["lanes"][1]["attempts"][0]
    assert (running["fromMs"], running["toMs"], running["durationMs"]) == (2, 5000, None)


def test_operator_decisions_and_the_rollback_attempts_they_bring() -> None:
    """A rollback that keeps failing waits for an operator; a retry runs it again, and the
    forward step whose attempts ran out does not take the rollback's retry timers."""
    history = [
        started(),
        timer(1, DEADLINE),
        failed("PaymentActivity", 1, 10, "down"),
        timer(11, 111),
        completed("OrderActivity", 1, 20),
        fired(112, 111),
        failed("PaymentActivity", 112, 120, "down"),
        completed("RollbackOrderActivity", 121, 130),
        failed("RollbackPaymentActivity", 121, 131, "ledger offline"),
        timer(132, 232),
        fired(233, 232),
        failed("RollbackPaymentActivity", 233, 240, "ledger offline"),
        decision(5_000, {"action": "retry"}),
        completed("RollbackPaymentActivity", 5_001, 5_020),
        decision(6_000, {"action": "resolve", "note": "refunded by hand"}),
    ]

    timeline = build_timeline(ORDER_SAGA, history, "Running", NOW)

    assert [a.status for a in timeline.lanes[1].attempts] == [AttemptStatus.FAILED] * 2
    assert len(timeline.lanes[1].waits) == 1
    rollback = timeline.lanes[3]
    assert rollback.spec.key == "payment_rollback"
    assert [(a.number, a.status) for a in rollback.attempts] == [
        (1, AttemptStatus.FAILED),
        (2, AttemptStatus.FAILED),
        (3, AttemptStatus.SUCCEEDED),
    ]
    assert [w.fire_at for w in rollback.waits] == [parse_time(at(232))]
    assert [(d.action, d.note) for d in timeline.decisions] == [
        ("retry", None),
        ("resolve", "refunded by hand"),
    ]
    assert timeline_json(timeline)["decisions"][1]["atMs"] == 6_000


def test_guard_timers_for_the_same_deadline_are_one_deadline() -> None:
    history = [
        started(),
        timer(1, DEADLINE),
        failed("OrderActivity", 1, 10, "down"),
        timer(11, DEADLINE),
        timer(11, 111),
        fired(112, 111),
        completed("OrderActivity", 112, 130),
        completed("PaymentActivity", 1, 140),
        finished(141),
    ]

    timeline = build_timeline(ORDER_SAGA, history, "Completed", NOW)

    assert [w.fire_at for w in timeline.lanes[0].waits] == [parse_time(at(111))]
    assert timeline.deadline is not None and timeline.deadline.fire_at == parse_time(at(DEADLINE))


def test_termination_suspension_and_other_events_are_marks() -> None:
    history = [
        started(),
        scheduled("PaymentActivity", 2),
        completed("OrderActivity", 2, 20),
        {"EventType": "ExecutionSuspended", "Timestamp": at(30), "Reason": "look"},
        {"EventType": "ExecutionResumed", "Timestamp": at(40), "Reason": None},
        {"EventType": "EventRaised", "Timestamp": at(45), "Name": "Ping", "Input": None},
        {"EventType": "ExecutionTerminated", "Timestamp": at(50), "Input": '"stuck payment"'},
        finished(50, "Terminated"),
    ]

    timeline = build_timeline(ORDER_SAGA, history, "Terminated", NOW)

    assert [(m.kind, m.detail) for m in timeline.marks] == [
        ("started", None),
        ("suspended", "look"),
        ("resumed", None),
        ("event", "Ping"),
        ("terminated", "stuck payment"),
    ]
    assert lanes(timeline)["payment"][0][1] is AttemptStatus.ABANDONED
    assert timeline_json(timeline)["lanes"][1]["attempts"][0]["toMs"] == 50


def test_results_as_json_text_unknown_activities_and_long_errors() -> None:
    history = [
        started(),
        {**completed("OrderActivity", 1, 5), "Result": '{"ok": false, "reason": "no stock"}'},
        failed("AuditActivity", 1, 6, "x" * 2_000),
    ]

    timeline = build_timeline(ORDER_SAGA, history, "Running", NOW)

    assert lanes(timeline)["order"] == [(1, AttemptStatus.REFUSED, "no stock")]
    other = timeline.lanes[-1]
    assert (other.spec.key, other.spec.kind) == ("AuditActivity", "other")
    detail = other.attempts[0].detail
    assert detail is not None and len(detail) == 500 and detail.endswith("…")


def test_a_pending_saga_has_an_empty_timeline() -> None:
    document = timeline_json(build_timeline(ORDER_SAGA, [], "Pending", NOW))

    assert document["lanes"] == [] and document["durationMs"] == 0
    assert document["deadline"] is None


def test_timestamps_in_every_form_the_hosts_write() -> None:
    assert parse_time("2026-11-28T00:31:00Z") == T0
    assert parse_time("2026-11-28T00:31:00.1234567Z") == T0 + timedelta(microseconds=123456)
    assert parse_time("2026-11-28T01:31:00+01:00") == T0
    assert parse_time("yesterday") is None
    assert parse_time(None) is None


def test_an_answer_after_the_deadline_is_shown_late() -> None:
    history = [
        started(),
        timer(2, 1002),
        completed("OrderActivity", 2, 23),
        fired(1003, 1002),
        completed("RollbackPaymentActivity", 1003, 1021),
        completed("RollbackOrderActivity", 1003, 1023),
        # The payment, stalled past the deadline, answers; only then does the instance end.
        completed("PaymentActivity", 2, 6002),
        finished(6003),
    ]

    timeline = build_timeline(ORDER_SAGA, history, "Completed", NOW)

    assert lanes(timeline)["payment"] == [
        (
            1,
            AttemptStatus.LATE,
            "answered after the deadline (succeeded); the saga had counted the step as timed "
            "out, and its rollback fenced it",
        )
    ]
    assert lanes(timeline)["order"] == [(1, AttemptStatus.SUCCEEDED, None)]
    assert lanes(timeline)["payment_rollback"] == [(1, AttemptStatus.SUCCEEDED, None)]


def test_an_operator_decision_raised_by_the_python_client_is_read_through_its_json_text() -> None:
    decision = {"action": "resolve", "note": "refunded by hand", "operatorRetries": 0}
    history = [
        started(),
        {
            "EventType": "EventRaised",
            "Timestamp": at(500),
            "Name": "OperatorDecision",
            # The client sends json.dumps(data) as JSON: the host stores a JSON string of it.
            "Input": json.dumps(json.dumps(decision)),
        },
        finished(501),
    ]

    timeline = build_timeline(ORDER_SAGA, history, "Completed", NOW)

    assert [(d.action, d.note) for d in timeline.decisions] == [("resolve", "refunded by hand")]
    assert timeline.marks[-1].kind == "completed"
