"""Sequence ids, new work and non-determinism: the real SDK's actions replayed against history."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from durable_host import history as h
from durable_host.replay import NewActivity, NewSubOrchestration, NewTimer, Plan, plan_episode

T0 = datetime(2026, 1, 1, tzinfo=UTC)
Orchestrator = Callable[[df.DurableOrchestrationContext], Generator[Any, Any, Any]]


class Run:
    """One execution's history, grown episode by episode as the engine grows it."""

    def __init__(self, orchestrator: Orchestrator, input_text: str | None = None) -> None:
        self.handle = df.Orchestrator.create(orchestrator)
        self.input_text = input_text
        self.now = T0
        self.history: list[h.Event] = [
            h.orchestrator_started(T0),
            h.execution_started(T0, "inst", "exec1", "Orch", input_text),
        ]

    def episode(self, *new_events: h.Event) -> tuple[dict[str, Any], Plan]:
        """Append new events, call the SDK, plan, and record the new work as the engine does."""
        self.now += timedelta(seconds=1)
        if len(self.history) > 2:
            self.history += [h.orchestrator_completed(self.now), h.orchestrator_started(self.now)]
        self.history += list(new_events)
        context = {
            "history": self.history,
            "input": json.loads(self.input_text) if self.input_text else None,
            "instanceId": "inst",
            "isReplaying": False,
            "parentInstanceId": None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
            "longRunningTimerIntervalDuration": "3.00:00:00",
            "maximumShortTimerDuration": "6.00:00:00",
        }
        try:
            state = json.loads(self.handle(json.dumps(context)))
        except Exception as error:
            state = json.loads(str(error).split("$OutOfProcData$:", 1)[1])
        plan = plan_episode(self.history, state, "exec1", self.now)
        for work in plan.work:
            if isinstance(work, NewActivity):
                self.history.append(
                    h.task_scheduled(self.now, work.sequence_id, work.name, work.input_text)
                )
            elif isinstance(work, NewTimer):
                self.history.append(h.timer_created(self.now, work.sequence_id, work.fire_at))
            else:
                self.history.append(
                    h.sub_orchestration_created(
                        self.now, work.sequence_id, work.name, work.instance_id, work.input_text
                    )
                )
        return state, plan

    def completed(self, sequence_id: int, result: Any) -> h.Event:
        return h.task_completed(self.now, sequence_id, json.dumps(result))

    def failed(self, sequence_id: int) -> h.Event:
        return h.task_failed(self.now, sequence_id, "Activity function 'A' failed: no", "{}")

    def fired(self, timer_id: int) -> h.Event:
        return h.timer_fired(self.now, timer_id, h.format_timestamp(self.now))


def fan_out(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    first = yield context.call_activity("A", 0)
    rest = yield context.task_all([context.call_activity("B", n) for n in range(3)])
    return [first, *rest]


def test_fan_out_takes_ids_in_call_order_and_completes() -> None:
    run = Run(fan_out)
    _, plan = run.episode()
    assert plan.work == [NewActivity(0, "A", "0")]
    _, plan = run.episode(run.completed(0, "a"))
    assert plan.work == [
        NewActivity(1, "B", "0"),
        NewActivity(2, "B", "1"),
        NewActivity(3, "B", "2"),
    ]
    _, plan = run.episode(run.completed(2, "b1"), run.completed(1, "b0"))
    assert plan.work == [] and plan.error is None
    state, plan = run.episode(run.completed(3, "b2"))
    assert state["isDone"] and state["output"] == ["a", "b0", "b1", "b2"]
    assert plan.next_sequence_id == 4


def with_retry(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    options = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=2)
    try:
        result = yield context.call_activity_with_retry("A", options, "x")
    except Exception:
        result = "gave up"
    after = yield context.call_activity("B", result)
    return after


def test_retry_takes_a_timer_id_after_each_failure_and_the_last_timer_fires_at_once() -> None:
    run = Run(with_retry)
    _, plan = run.episode()
    assert plan.work == [NewActivity(0, "A", '"x"')]
    _, plan = run.episode(run.failed(0))
    assert plan.work == [NewTimer(1, run.now + timedelta(seconds=5))]
    _, plan = run.episode(run.fired(1))
    assert plan.work == [NewActivity(2, "A", '"x"')]
    _, plan = run.episode(run.failed(2))
    assert plan.work == [NewTimer(3, run.now)]
    _, plan = run.episode(run.fired(3))
    assert plan.work == [NewActivity(4, "B", '"gave up"')]


def test_retry_success_on_a_later_attempt_moves_on() -> None:
    run = Run(with_retry)
    run.episode()
    run.episode(run.failed(0))
    run.episode(run.fired(1))
    _, plan = run.episode(run.completed(2, "ok"))
    assert plan.work == [NewActivity(3, "B", '"ok"')]


def race(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    timer = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    event = context.wait_for_external_event("Go")
    winner = yield context.task_any([timer, event])
    if winner == event:
        timer.cancel()
    child = yield context.call_sub_orchestrator("Child", "in")
    return child


def test_cancelled_timer_settles_and_sub_orchestration_gets_the_default_id() -> None:
    run = Run(race)
    _, plan = run.episode()
    assert plan.work == [NewTimer(0, T0 + timedelta(hours=1))]
    _, plan = run.episode(h.event_raised(run.now, "Go", "1"))
    assert plan.work == [NewSubOrchestration(1, "Child", "exec1:1", '"in"')]
    # Replays of the cancelled timer (isCanceled) still match its TimerCreated.
    state, plan = run.episode(h.sub_orchestration_completed(run.now, 1, '"done"'))
    assert plan.error is None
    assert state["output"] == "done"


def test_an_event_raised_before_the_wait_is_kept_for_it() -> None:
    def waits_late(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        first = yield context.call_activity("A", 1)
        second = yield context.wait_for_external_event("E")
        third = yield context.call_activity("A", second)
        return [first, third]

    run = Run(waits_late)
    run.episode()
    _, plan = run.episode(h.event_raised(run.now, "E", '"early"'))
    assert plan.work == []
    _, plan = run.episode(run.completed(0, "one"))
    assert plan.work == [NewActivity(1, "A", '"early"')]


def changing(name: str) -> Orchestrator:
    def orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        if name == "timer":
            yield context.create_timer(context.current_utc_datetime)
        else:
            yield context.call_activity(name, 1)
        yield context.wait_for_external_event("E")

    return orchestrator


@pytest.mark.parametrize(
    ("replayed", "expected"),
    [
        (
            "B",
            "history has an activity 'A' at sequence id 0, but this replay scheduled an "
            "activity 'B' there",
        ),
        (
            "timer",
            "history has an activity 'A' at sequence id 0, but this replay scheduled a timer there",
        ),
    ],
)
def test_a_replay_that_disagrees_with_history_is_non_deterministic(
    replayed: str, expected: str
) -> None:
    run = Run(changing("A"))
    run.episode()
    run.handle = df.Orchestrator.create(changing(replayed))
    _, plan = run.episode(run.completed(0, "x"))
    assert plan.error is not None
    assert plan.error.startswith("Non-deterministic orchestrator: " + expected)


def test_names_match_case_insensitively_as_the_host_does() -> None:
    run = Run(changing("A"))
    run.episode()
    run.handle = df.Orchestrator.create(changing("a"))
    _, plan = run.episode(run.completed(0, "x"))
    assert plan.error is None


def test_history_the_replay_never_reaches_is_non_deterministic() -> None:
    def two_calls(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.task_all([context.call_activity("A", 1), context.call_activity("A", 2)])

    def one_call(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.call_activity("A", 1)
        yield context.wait_for_external_event("E")

    run = Run(two_calls)
    run.episode()
    run.handle = df.Orchestrator.create(one_call)
    _, plan = run.episode(run.completed(0, "x"))
    assert plan.error is not None
    assert "sequence id 1, but this replay never scheduled it" in plan.error


def test_continue_as_new_reports_the_new_input_and_waits() -> None:
    def loop(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        value = yield context.wait_for_external_event("N")
        context.continue_as_new({"n": value})

    run = Run(loop)
    run.episode()
    state, plan = run.episode(h.event_raised(run.now, "N", "5"))
    assert state["isDone"]
    assert plan.continues_as_new
    assert json.loads(plan.continue_as_new_input or "null") == {"n": 5}
    assert plan.waits_by_name == {"N": 1}


def test_task_all_settles_only_when_every_child_has_as_the_host_replays_it() -> None:
    def both_then_next(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        options = df.RetryOptions(
            first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2
        )
        first = context.call_activity_with_retry("A", options, 1)
        second = context.call_activity_with_retry("B", options, 2)
        waiting = context.task_any([context.task_all([first, second])])
        while not (first.is_completed and second.is_completed):
            yield waiting
            waiting = context.task_any([t for t in (first, second) if not t.is_completed])
        result = yield context.call_activity("C", 3)
        return result

    run = Run(both_then_next)
    _, plan = run.episode()
    assert [w.sequence_id for w in plan.work] == [0, 1]
    run.episode(run.failed(0))  # A: retry timer 2
    run.episode(run.fired(2))  # A: attempt 3
    run.episode(run.failed(3))  # A: final timer 4, fires at once
    _, plan = run.episode(run.fired(4))
    # A has settled (failed) but B is still running: nothing new yet.
    assert plan.work == [] and plan.error is None
    _, plan = run.episode(run.failed(1))  # B: retry timer 5
    assert plan.work == [NewTimer(5, run.now + timedelta(seconds=1))]
    run.episode(run.fired(5))  # B: attempt 6
    _, plan = run.episode(run.completed(6, "b"))
    assert plan.work == [NewActivity(7, "C", "3")]
    assert plan.error is None


# What the host does with cancelled timers and open work (OutOfProcOrchestrationShim awaits
# each top-level action in turn; DurableTask completes an instance only without open tasks).


def deadline_then_next(cancel: bool) -> Orchestrator:
    """A retried step raced against a deadline; then another activity. With `cancel`, the
    deadline is cancelled once the step has answered."""

    def orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        options = df.RetryOptions(
            first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2
        )
        step = context.call_activity_with_retry("A", options, 1)
        deadline = context.create_timer(context.current_utc_datetime + timedelta(minutes=1))
        yield context.task_any([step, deadline])
        if cancel and not deadline.is_completed:
            deadline.cancel()
        after = yield context.call_activity("B", 2)
        return after

    return orchestrator


def test_a_deadline_cancelled_after_a_retry_renumbers_what_follows_on_the_host() -> None:
    # Cancelled, the timer completes at the start of the host's replay, so the host starts B
    # right away, ahead of A's retry timer, which it numbers only when A's failure replays:
    # B takes id 2 where the history holds that timer. The host fails such an instance.
    run = Run(deadline_then_next(cancel=True))
    run.episode()
    run.episode(run.failed(0))  # A's retry timer: id 2
    run.episode(run.fired(2))  # A's second attempt: id 3
    _, plan = run.episode(run.completed(3, "a"))
    assert plan.error is not None
    assert "history has a timer at sequence id 2, but this replay scheduled an activity 'B'" in (
        plan.error
    )


def test_a_deadline_left_armed_keeps_the_instance_open_until_it_fires() -> None:
    run = Run(deadline_then_next(cancel=False))
    run.episode()
    _, plan = run.episode(run.completed(0, "a"))
    assert plan.work == [NewActivity(2, "B", "2")]
    state, plan = run.episode(run.completed(2, "b"))
    assert state["isDone"] is True
    assert plan.open_tasks == {1} and not plan.may_complete
    state, plan = run.episode(run.fired(1))
    assert plan.open_tasks == set() and plan.may_complete


def test_a_cancelled_deadline_before_any_retry_lets_the_instance_complete_at_once() -> None:
    run = Run(deadline_then_next(cancel=True))
    run.episode()
    run.episode(run.completed(0, "a"))
    state, plan = run.episode(run.completed(2, "b"))
    assert state["isDone"] is True and plan.error is None
    assert plan.may_complete


def test_an_activity_still_running_keeps_a_finished_orchestrator_open() -> None:
    def first_of_two(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        winner = yield context.task_any(
            [context.call_activity("A", 1), context.call_activity("B", 2)]
        )
        return winner.result

    run = Run(first_of_two)
    run.episode()
    state, plan = run.episode(run.completed(1, "b"))
    assert state["isDone"] is True and state["output"] == "b"
    assert plan.open_tasks == {0} and not plan.may_complete
    _, plan = run.episode(run.completed(0, "a"))
    assert plan.may_complete


def test_a_host_still_waiting_on_a_top_level_action_does_not_set_the_output() -> None:
    def done_early(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        first = context.call_activity("A", 1)
        second = context.call_activity("B", 2)
        yield context.task_any([context.task_all([first, second])])
        return "decided"

    run = Run(done_early)
    run.episode()
    # A fails: the SDK's task_all fails fast and the orchestrator returns, but the host's WhenAll
    # still waits for B, so the host never reaches the end of the actions.
    state, plan = run.episode(run.failed(0))
    assert state["isDone"] is True
    assert not plan.replayed_to_end and not plan.may_complete
    _, plan = run.episode(run.completed(1, "b"))
    assert plan.replayed_to_end and plan.may_complete
