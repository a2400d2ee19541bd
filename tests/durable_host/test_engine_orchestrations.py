"""Every orchestration feature, run by the real SDK on durable_host over HTTP against Azurite, for
a v1 app and its v2 twin alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.durable_host.conftest import serve, twins
from tests.durable_host.orchestration_client import ManagementClient, event_types


@pytest.fixture(scope="module", params=twins("orchestrations"))
def client(
    storage_connection_string: str, request: pytest.FixtureRequest
) -> Iterator[ManagementClient]:
    hub = "Orch" + uuid.uuid4().hex[:10]
    with serve(request.param, storage_connection_string, hub) as host:
        yield ManagementClient(host.base_url)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_chaining_passes_each_output_on_and_reports_custom_status(
    client: ManagementClient,
) -> None:
    instance = new_id("chain")
    reply = client.start("Chain", instance, "Ada")
    assert reply.status == 202
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Ada", "Hello Hello Ada", "Hello Hello Hello Ada"]
    assert status["customStatus"] == {"step": 2}
    # The client double-encodes: the stored input is the JSON text of the input.
    assert status["input"] == '"Ada"'
    assert event_types(status) == [
        "ExecutionStarted",
        "TaskCompleted",
        "TaskCompleted",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    assert [e.get("FunctionName") for e in status["historyEvents"][1:4]] == ["Greet"] * 3
    assert status["historyEvents"][1]["Result"] == "Hello Ada"


def test_fan_out_runs_activities_in_parallel_and_fans_in(client: ManagementClient) -> None:
    instance = new_id("fan")
    client.start("FanOut", instance, {"count": 12})
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"squares": [n * n for n in range(12)], "total": 506}
    assert event_types(status).count("TaskCompleted") == 13


def test_retry_succeeds_after_failures_with_a_timer_after_each_failure(
    client: ManagementClient,
) -> None:
    instance = new_id("retry")
    client.start("RetryFlaky", instance, {"key": instance, "failures": 2, "attempts": 4})
    status = client.wait_until(instance)
    assert status["output"] == {"attempt": 3}
    assert event_types(status) == [
        "ExecutionStarted",
        "TaskFailed",
        "TimerCreated",
        "TimerFired",
        "TaskFailed",
        "TimerCreated",
        "TimerFired",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    failure = status["historyEvents"][1]
    assert failure["Reason"].startswith("Activity function 'Flaky' failed:")
    assert f"attempt 1 of {instance} failed" in failure["Reason"]


def test_retries_exhausted_surface_the_last_failure_after_the_final_timer(
    client: ManagementClient,
) -> None:
    instance = new_id("exhausted")
    client.start("RetryFlaky", instance, {"key": instance, "failures": 5, "attempts": 2})
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Completed"
    assert f"attempt 2 of {instance} failed" in status["output"]["error"]
    types = event_types(status)
    # Two attempts, each followed by a retry timer (the last one fires at once, as DTFx does).
    assert types.count("TaskFailed") == 2
    assert types.count("TimerFired") == 2
    assert types.index("TimerFired", types.index("TaskFailed", 2)) < types.index(
        "ExecutionCompleted"
    )


def test_event_beats_the_deadline_and_the_cancelled_timer_does_not_hold_it(
    client: ManagementClient,
) -> None:
    instance = new_id("approve")
    client.start("Approval", instance, {"seconds": 3600})
    client.wait_for_history(instance, "TimerCreated")
    assert client.raise_event(instance, "Approve", {"by": "Grace"}).status == 202
    status = client.wait_until(instance, timeout=10)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"approved": {"by": "Grace"}}


def test_event_raised_before_the_orchestrator_waits_for_it_is_kept(
    client: ManagementClient,
) -> None:
    instance = new_id("early")
    client.start("WaitTwo", instance)
    client.wait_until(instance, ("Running",))
    assert client.raise_event(instance, "B", "second").status == 202
    client.wait_for_history(instance, "EventRaised")
    assert client.raise_event(instance, "A", "first").status == 202
    status = client.wait_until(instance)
    assert status["output"] == ["first", "second"]
    assert status["customStatus"] == "got A"


def test_sub_orchestrations_with_retry(client: ManagementClient) -> None:
    instance = new_id("parent")
    client.start("Parent", instance, {"name": "Kay", "key": instance})
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["chained"] == ["Hello Kay", "Hello Hello Kay", "Hello Hello Hello Kay"]
    assert status["output"]["flaky"]["attempt"] == 2
    types = event_types(status)
    assert types.count("SubOrchestrationInstanceCompleted") == 2
    assert types.count("SubOrchestrationInstanceFailed") == 1
    # Default child ids are "{parent execution id}:{sequence id}"; the second attempt is id 3
    # (first child 0, first FlakyChild attempt 1, its retry timer 2).
    child = status["output"]["flaky"]["child"]
    assert child.endswith(":3")
    child_status = client.status(child).json()
    assert child_status["runtimeStatus"] == "Completed"
    assert child_status["name"] == "FlakyChild"


def test_a_sub_orchestration_continuing_as_new_at_once_still_answers_its_parent(
    client: ManagementClient,
) -> None:
    # Countdown continues as new in the very episode that starts each of its executions.
    instance = new_id("countdown")
    client.start("CountdownParent", instance, 2)
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == "liftoff"
    assert event_types(status) == [
        "ExecutionStarted",
        "SubOrchestrationInstanceCompleted",
        "ExecutionCompleted",
    ]


def test_continue_as_new_restarts_with_the_new_input(client: ManagementClient) -> None:
    instance = new_id("counter")
    client.start("Counter", instance, {"n": 0, "limit": 3, "seen": []})
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"n": 3, "limit": 3, "seen": ["Hello 0", "Hello 1", "Hello 2"]}
    # Only the last execution's history is kept, as the real host does.
    assert event_types(status) == ["ExecutionStarted", "ExecutionCompleted"]


def test_continue_as_new_carries_over_events_raised_meanwhile(client: ManagementClient) -> None:
    instance = new_id("collector")
    client.start("Collector", instance, [])
    client.wait_until(instance, ("Running",))
    for item in ("a", "b", "c"):
        assert client.raise_event(instance, "Item", item).status == 202
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["a", "b", "c"]


def test_orchestrator_exception_fails_with_the_hosts_message(client: ManagementClient) -> None:
    instance = new_id("explode")
    client.start("Explode", instance)
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith("Orchestrator function 'Explode' failed: ")
    assert "kaboom" in status["output"]
    assert status["historyEvents"][-1]["OrchestrationStatus"] == "Failed"


def test_unhandled_activity_failure_fails_the_orchestration(client: ManagementClient) -> None:
    instance = new_id("actfail")
    client.start("ActivityFails", instance, {"key": instance, "failures": 1})
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith("Orchestrator function 'ActivityFails' failed: ")
    assert "Activity function 'Flaky' failed" in status["output"]


def test_calling_a_missing_activity_fails_the_orchestration(client: ManagementClient) -> None:
    instance = new_id("missing")
    client.start("CallsMissing", instance)
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == (
        "Orchestrator function 'CallsMissing' failed: The function 'NoSuchActivity' doesn't "
        "exist, is disabled, or is not an activity function."
    )


def test_replay_that_disagrees_with_history_fails_as_non_deterministic(
    client: ManagementClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = new_id("fickle")
    monkeypatch.setenv("FICKLE_ACTIVITY", "Greet")
    client.start("Fickle", instance)
    client.wait_for_history(instance, "TaskCompleted")
    monkeypatch.setenv("FICKLE_ACTIVITY", "Square")
    client.raise_event(instance, "Go", True)
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Failed"
    assert "Non-deterministic orchestrator" in status["output"]
    assert "'Greet' at sequence id 0" in status["output"]
    assert "'Square'" in status["output"]


def test_suspended_instance_buffers_events_until_resumed(client: ManagementClient) -> None:
    instance = new_id("suspend")
    client.start("WaitTwo", instance)
    client.wait_until(instance, ("Running",))
    assert client.post(instance, "suspend", "?reason=maintenance").status == 202
    client.wait_until(instance, ("Suspended",))
    assert client.raise_event(instance, "A", 1).status == 202
    assert client.raise_event(instance, "B", 2).status == 202
    # Events raised while suspended are not applied: nothing follows the suspension in history.
    # The engine holds such messages where no API shows them, so their arrival cannot be awaited;
    # the final history's order below proves they were held, whenever the engine read them.
    held = client.status(instance, "?showHistory=true").json()
    assert held["runtimeStatus"] == "Suspended"
    assert held["customStatus"] is None
    assert event_types(held) == ["ExecutionStarted", "ExecutionSuspended"]
    assert held["historyEvents"][1]["Reason"] == "maintenance"

    assert client.post(instance, "resume", "?reason=done").status == 202
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == [1, 2]
    # One instance's messages apply in the order sent, so events applied while suspended would
    # come before ExecutionResumed; held ones come after it, each exactly once.
    assert event_types(status) == [
        "ExecutionStarted",
        "ExecutionSuspended",
        "ExecutionResumed",
        "EventRaised",
        "EventRaised",
        "ExecutionCompleted",
    ]
    resumed, first, second = status["historyEvents"][2:5]
    assert resumed["Reason"] == "done"
    assert (first["Name"], first["Input"]) == ("A", "1")
    assert (second["Name"], second["Input"]) == ("B", "2")


def test_terminate_records_the_reason(client: ManagementClient) -> None:
    instance = new_id("terminate")
    client.start("WaitTwo", instance)
    client.wait_until(instance, ("Running",))
    assert client.post(instance, "terminate", "?reason=enough").status == 202
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "enough"
    assert "ExecutionTerminated" in event_types(status)
    assert client.post(instance, "terminate").status == 410
    assert client.raise_event(instance, "A", 1).status == 410


def test_orchestrator_failing_outside_the_sdk_fails_with_one_message(
    client: ManagementClient,
) -> None:
    instance = new_id("broken")
    client.start("Broken", instance)
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith("Orchestrator function 'Broken' failed: ")
    assert status["output"].count("Orchestrator function") == 1
    assert "the orchestrator module is broken" in status["output"]


def test_an_activity_result_too_large_for_storage_fails_the_activity(
    client: ManagementClient,
) -> None:
    instance = new_id("hugeact")
    client.start("HugeOutput", instance, {"size": 40_000, "via_activity": True})
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Failed"
    assert "The result of activity" in status["output"]
    assert "too large for Azure Table storage" in status["output"]


def test_an_output_too_large_for_storage_fails_the_orchestration(
    client: ManagementClient,
) -> None:
    small = new_id("smallout")
    client.start("HugeOutput", small, {"size": 10, "via_activity": True})
    assert client.wait_until(small)["output"] == 10
    instance = new_id("hugeout")
    client.start("HugeOutput", instance, {"size": 40_000, "via_activity": False})
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith("Orchestrator function 'HugeOutput' failed: ")
    assert "too large for Azure Table storage" in status["output"]
