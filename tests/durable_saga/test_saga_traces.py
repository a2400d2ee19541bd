"""One trace per saga, on the test kit: the spans the orchestrator reports for BookingSaga (two
stages, tests/durable_saga/app), replayed by the real SDK at every episode.

The saga is started as the toolkit's starter starts it while tracing: its input carries the
request span's context (tests.tracing.REQUEST). Every span must be in that trace, the saga span
under the request span, every attempt under the saga span, once each, with the times the
history recorded on the kit's virtual clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from durable_host.testing import DurableTestEnv
from durable_saga import OPERATOR_DECISION, saga_activity
from durable_saga.documents import TraceContext
from durable_saga.testing import explore, failure_points
from tests.durable_saga.app.booking_saga import BOOKING_SAGA
from tests.durable_saga.bookings import ACTIVITIES, APP, BOOKING, INSTANCE, booking_env
from tests.scripted import START, Raises, Returns, needs_attention, run_until_decided
from tests.tracing import REQUEST_SPAN, TRACE_ID, Span, Spans, traced

OK = Returns({"ok": True})


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def attempts(spans: Spans) -> list[tuple[str, int, str, float]]:
    """(activity, attempt, outcome, start in seconds) of every attempt span, in the order they
    started."""
    return [
        (span.name, span["saga.attempt"], span["saga.outcome"], (span.start - START).seconds)
        for span in spans.attempts()
    ]


def shape(spans: list[Span]) -> list[tuple[object, ...]]:
    """What each span says, its parent by name, ids and the execution left out, sorted."""
    names = {span.span_id: span.name for span in spans}
    return sorted(
        (
            span.name,
            names.get(span.parent_id or "", span.parent_id),
            span.start,
            span.end,
            span.error,
            span.events,
            sorted((k, v) for k, v in span.attributes.items() if k != "saga.execution_id"),
        )
        for span in spans
    )


def assert_one_trace(spans: list[Span]) -> Span:
    """Every span in the request's trace, ids unique, the saga span under the request span and
    every other one under the saga span (or, for an operator's decision, its request); returns
    the saga span."""
    assert {span.trace_id for span in spans} == {TRACE_ID}
    assert len({span.span_id for span in spans}) == len(spans), "a span was reported twice"
    [saga] = [span for span in spans if span.name == "BookingSaga"]
    assert saga.parent_id == REQUEST_SPAN
    for span in spans:
        if span is not saga and "saga.activity" in span.attributes:
            assert span.parent_id == saga.span_id, span
            assert saga.start <= span.start <= span.end <= saga.end, span
    return saga


async def test_a_completed_saga_is_one_trace_of_its_attempts(spans: Spans) -> None:
    async with booking_env(HoldRoom=[Returns({"ok": True}, after=10)]) as env:
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        await run_until_decided(env, INSTANCE, ACTIVITIES, until_completed=True)
        calls = env.calls()

    saga = assert_one_trace(spans.all())
    assert attempts(spans) == [
        ("HoldSeat", 1, "succeeded", 0),
        ("HoldRoom", 1, "succeeded", 0),
        ("ChargeCard", 1, "succeeded", 10),
        ("SendNotice", 1, "succeeded", 10),
    ]
    assert (saga.start, saga.end) == (START, at(10))
    assert saga["saga.outcome"] == "completed"
    assert saga["saga.id"] == saga["saga.instance_id"] == INSTANCE
    room = spans.one("HoldRoom")
    assert (room.start, room.end, room.error) == (START, at(10), None)
    assert (room["saga.step"], room["saga.stage"], room["saga.action"]) == (
        "room",
        "hold",
        "forward",
    )
    # Each attempt received its own span's context with its payload, and nothing else.
    by_name = {span.name: span for span in spans.attempts()}
    for call in calls:
        assert call.input == {
            "traceContext": {"traceparent": f"00-{TRACE_ID}-{by_name[call.name].span_id}-01"},
            "payload": BOOKING,
        }


async def test_a_compensated_saga_shows_every_retry_and_each_rollback_after_its_step(
    spans: Spans,
) -> None:
    async with booking_env(
        ChargeCard=[Raises("card network down")],
        RefundCard=[Raises("refunds down"), Returns({"ok": True}, after=1)],
    ) as env:
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        await run_until_decided(env, INSTANCE, ACTIVITIES, until_completed=True)

    saga = assert_one_trace(spans.all())
    # The card's two tries 5 s apart; its refund's two tries 3 s apart (the saga's compensation
    # policy), then the first stage's rollbacks, side by side.
    assert attempts(spans) == [
        ("HoldSeat", 1, "succeeded", 0),
        ("HoldRoom", 1, "succeeded", 0),
        ("ChargeCard", 1, "failed", 0),
        ("SendNotice", 1, "succeeded", 0),
        ("ChargeCard", 2, "failed", 5),
        ("RefundCard", 1, "failed", 5),
        ("RefundCard", 2, "succeeded", 8),
        ("ReleaseSeat", 1, "succeeded", 9),
        ("ReleaseRoom", 1, "succeeded", 9),
    ]
    card = spans.named("ChargeCard")
    assert [span.error for span in card] == [
        "Activity function 'ChargeCard' failed:  ServiceError: card network down"
    ] * 2
    assert all("exception" in span.events for span in card)
    assert spans.named("RefundCard")[1].error is None
    # A rollback starts only after the step it undoes ended, the earlier stage's after the later
    # stage's rollbacks.
    refund = spans.named("RefundCard")
    assert refund[0].start >= card[-1].end
    for rollback, step in (("ReleaseSeat", "HoldSeat"), ("ReleaseRoom", "HoldRoom")):
        assert spans.one(rollback).start >= max(spans.one(step).end, refund[-1].end)
        assert spans.one(rollback)["saga.action"] == "compensation"
    assert saga["saga.outcome"] == "compensated"
    assert saga.end == at(9)
    assert saga.events.count("step settled") == 4 + 3
    assert "compensating" in saga.events


async def test_a_refusal_is_an_answer_not_an_error(spans: Spans) -> None:
    async with booking_env(HoldSeat=[Returns({"ok": False, "reason": "no seat left"})]) as env:
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        await run_until_decided(env, INSTANCE, ACTIVITIES, until_completed=True)

    seat = spans.one("HoldSeat")
    assert (seat["saga.outcome"], seat["saga.reason"], seat.error) == (
        "refused",
        "no seat left",
        None,
    )
    assert spans.one("BookingSaga")["saga.outcome"] == "compensated"


async def test_a_step_cut_off_by_its_deadline_says_so(spans: Spans) -> None:
    async with booking_env(HoldRoom=[Returns({"ok": True}, after=40)]) as env:
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        run = await run_until_decided(env, INSTANCE, ACTIVITIES, until_completed=True)

    # Decided at the deadline; the instance completed once the late attempt returned.
    assert run.output["outcome"] == "compensated"
    assert run.final.last_updated_time == at(40)
    saga = assert_one_trace(spans.all())
    room = spans.one("HoldRoom")
    assert (room.start, room.end) == (START, at(30))  # the room's own 30 s deadline
    assert room["saga.outcome"] == "timed_out"
    assert room.error == "not settled within the 30s step deadline"
    # Reported once each: the room's span when its deadline fired, not again when (if ever)
    # its attempt returns.
    assert [name for name, *_ in attempts(spans)] == [
        "HoldSeat",
        "HoldRoom",
        "ReleaseSeat",
        "ReleaseRoom",
    ]
    assert saga["saga.outcome"] == "compensated"
    assert saga.end == at(30)


OPERATOR = TraceContext(traceparent=f"00-{TRACE_ID}-b9c7c989f97918e1-01")
"""The span of an operator's compensation request in the saga's trace (durable_saga.monitor)."""


async def test_an_operators_resolve_is_a_span_under_the_request_that_sent_it(
    spans: Spans,
) -> None:
    async with booking_env(
        ChargeCard=[Raises("card network down")], ReleaseSeat=[Raises("seat system down")]
    ) as env:
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        await env.wait_for(INSTANCE, "Running", until=needs_attention(0))
        decision = {
            "action": "resolve",
            "note": "seat released by phone",
            "operatorRetries": 0,
            "traceContext": OPERATOR.model_dump(exclude_none=True),
        }
        await env.raise_event(INSTANCE, OPERATOR_DECISION, decision)
        run = await run_until_decided(env, INSTANCE, ACTIVITIES, until_completed=True)

    assert run.output["outcome"] == "resolved_manually"
    saga = assert_one_trace(spans.all())
    resolve = spans.one("BookingSaga operator resolve")
    assert resolve.parent_id == OPERATOR.span_id
    assert resolve["saga.operator.note"] == "seat released by phone"
    assert resolve.start == resolve.end == spans.named("ReleaseSeat")[-1].end
    assert [(span["saga.attempt"], span.error) for span in spans.named("ReleaseSeat")] == [
        (1, "Activity function 'ReleaseSeat' failed:  ServiceError: seat system down"),
        (2, "Activity function 'ReleaseSeat' failed:  ServiceError: seat system down"),
    ]
    assert saga["saga.outcome"] == "resolved_manually"
    assert "waiting for an operator" in saga.events


async def test_an_operators_retry_runs_the_rollback_again_as_its_next_attempt(
    spans: Spans,
) -> None:
    async with booking_env(
        ChargeCard=[Raises("card network down")],
        ReleaseSeat=[Raises("seat system down"), Raises("seat system down"), OK],
    ) as env:
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        await env.wait_for(INSTANCE, "Running", until=needs_attention(0))
        # Raised without a trace context (not through the toolkit's endpoint): under the saga.
        await env.raise_event(
            INSTANCE, OPERATOR_DECISION, {"action": "retry", "operatorRetries": 0}
        )
        run = await run_until_decided(env, INSTANCE, ACTIVITIES, until_completed=True)

    assert run.output["outcome"] == "compensated"
    saga = assert_one_trace(spans.all())
    assert spans.one("BookingSaga operator retry").parent_id == saga.span_id
    assert [
        (span["saga.attempt"], span["saga.outcome"]) for span in spans.named("ReleaseSeat")
    ] == [
        (1, "failed"),
        (2, "failed"),
        (3, "succeeded"),
    ]
    assert saga["saga.operator_retries"] == 1


def card_down_refunds_back_at(seconds: float) -> dict[str, Callable[[Any], Any]]:
    """Services whose answers depend on the virtual time alone, so that an activity a crash makes
    run again answers as it did: the card always fails, refunds fail until `seconds`."""
    env: list[DurableTestEnv] = []

    async def answer(name: str) -> dict[str, Any]:
        now = (env[0].now - START).total_seconds()
        if name == "ChargeCard" or (name == "RefundCard" and now < seconds):
            raise RuntimeError(f"{name} is down")
        return {"ok": True}

    def service(name: str) -> Callable[[Any], Any]:
        async def run(_: Any) -> dict[str, Any]:
            return await answer(name)

        return saga_activity(run)

    services: dict[str, Callable[[Any], Any]] = {name: service(name) for name in ACTIVITIES}
    services["env"] = env.append  # handed the env once it runs
    return services


async def run_with_restarts(restarts: Sequence[str]) -> None:
    """Run a compensating booking to its end, restarting the engine (as a crash would) once the
    first call of each activity in `restarts` has been made."""
    services = card_down_refunds_back_at(7)
    hand_env = services.pop("env")
    async with DurableTestEnv(APP, activities=services, start_time=START) as env:
        hand_env(env)
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        called = env.calls
        for activity in restarts:
            await env.wait_for(
                INSTANCE, "Running", until=lambda _, name=activity: bool(called(name))
            )
            await env.restart()
        await env.wait_for(INSTANCE, "Completed")


async def test_a_restart_mid_saga_reports_the_same_spans(spans: Spans) -> None:
    await run_with_restarts([])
    straight = spans.all()
    spans.exporter.clear()
    # A crash while the card is tried, and again while its refund is.
    await run_with_restarts(["ChargeCard", "RefundCard"])
    # An episode the crash cut off before its checkpoint runs again and reports its spans again:
    # the same spans, with the same ids, which a backend keeps once.
    restarted: dict[str, Span] = {}
    for span in spans.all():
        assert restarted.setdefault(span.span_id, span) == span, "two spans with one id"

    assert [(span.name, span.attributes.get("saga.attempt")) for span in straight] == [
        ("HoldSeat", 1),
        ("HoldRoom", 1),
        ("ChargeCard", 1),
        ("SendNotice", 1),
        ("BookingSaga", None),
        ("ChargeCard", 2),
        ("RefundCard", 1),
        ("RefundCard", 2),
        ("ReleaseSeat", 1),
        ("ReleaseRoom", 1),
    ]
    # Two runs are two executions, whose span ids differ: compare what each span says.
    assert shape(list(restarted.values())) == shape(straight)


async def test_a_saga_started_without_a_trace_context_reports_nothing(spans: Spans) -> None:
    async with booking_env(ChargeCard=[Raises("card network down")]) as env:
        await env.start("BookingSaga", BOOKING, INSTANCE)
        await run_until_decided(env, INSTANCE, ACTIVITIES, until_completed=True)
        calls = env.calls()

    assert spans.all() == []
    assert {str(call.input) for call in calls} == {str(BOOKING)}, "payloads as they were"


async def test_a_traced_saga_in_a_process_not_tracing_sends_the_same_payloads() -> None:
    async with booking_env(ChargeCard=[Raises("card network down")]) as env:
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        run = await run_until_decided(env, INSTANCE, ACTIVITIES, until_completed=True)
        calls = env.calls()

    assert run.output["outcome"] == "compensated"
    assert all(call.input["traceContext"]["traceparent"][3:35] == TRACE_ID for call in calls)
    assert len({call.input["traceContext"]["traceparent"] for call in calls}) == len(calls)


async def test_every_failure_point_of_a_traced_saga_keeps_the_invariants_in_one_trace_each(
    spans: Spans,
) -> None:
    explored = await explore(BOOKING_SAGA, APP, traced(BOOKING), instance_id=INSTANCE)

    reported = spans.all()
    sagas = [span for span in reported if span.name == "BookingSaga"]
    assert len(sagas) == len(explored) == len(failure_points(BOOKING_SAGA))
    assert {span.trace_id for span in reported} == {TRACE_ID}
    assert len({span.span_id for span in reported}) == len(reported)
    for saga in sagas:
        run = [span for span in reported if span["saga.execution_id"] == saga["saga.execution_id"]]
        assert_one_trace(run)


async def test_spans_an_activitys_own_code_starts_are_children_of_its_attempt(
    spans: Spans,
) -> None:
    services = spans.provider.get_tracer("booking services")

    def hold_seat(booking: Any) -> dict[str, Any]:
        assert booking == BOOKING, "the adapter hands the service its payload alone"
        with services.start_as_current_span("seat map lookup"):
            return {"ok": True}

    ok = saga_activity(lambda _: {"ok": True})
    activities = {name: ok for name in ACTIVITIES} | {"HoldSeat": saga_activity(hold_seat)}
    async with DurableTestEnv(APP, activities=activities, start_time=START) as env:
        await env.start("BookingSaga", traced(BOOKING), INSTANCE)
        await env.wait_for(INSTANCE, "Completed")

    lookup = spans.one("seat map lookup")
    assert lookup.trace_id == TRACE_ID
    assert lookup.parent_id == spans.one("HoldSeat").span_id
