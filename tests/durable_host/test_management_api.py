"""The Durable management HTTP API: every endpoint, its status codes, payloads and errors."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.durable_host.conftest import serve, twins
from tests.durable_host.orchestration_client import JSON, ManagementClient
from tests.http_client import Reply, call, wait_for

CONTINUATION = "x-ms-continuation-token"


@pytest.fixture(scope="module", params=twins("orchestrations"))
def client(
    storage_connection_string: str, request: pytest.FixtureRequest
) -> Iterator[ManagementClient]:
    hub = "Mgmt" + uuid.uuid4().hex[:10]
    with serve(request.param, storage_connection_string, hub) as host:
        yield ManagementClient(host.base_url)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def start_waiting(client: ManagementClient, prefix: str = "wait") -> str:
    """An instance that stays Running until it gets events A and B."""
    instance = new_id(prefix)
    assert client.start("WaitTwo", instance).status == 202
    client.wait_until(instance, ("Running",))
    return instance


def completed(client: ManagementClient, prefix: str = "done", name: str = "x") -> str:
    instance = new_id(prefix)
    client.start("Chain", instance, name)
    assert client.wait_until(instance)["runtimeStatus"] == "Completed"
    return instance


# Start


def test_start_answers_202_with_the_check_status_links(client: ManagementClient) -> None:
    instance = new_id("links")
    reply = client.start("Chain", instance, "Lin")
    assert reply.status == 202
    body = reply.json()
    api = client.api
    query = f"taskHub={body['statusQueryGetUri'].split('taskHub=')[1].split('&')[0]}"
    assert body == {
        "id": instance,
        "statusQueryGetUri": f"{api}/instances/{instance}?{query}&connection=Storage",
        "sendEventPostUri": f"{api}/instances/{instance}/raiseEvent/{{eventName}}?{query}"
        "&connection=Storage",
        "terminatePostUri": f"{api}/instances/{instance}/terminate?reason={{text}}&{query}"
        "&connection=Storage",
        "purgeHistoryDeleteUri": f"{api}/instances/{instance}?{query}&connection=Storage",
        "restartPostUri": f"{api}/instances/{instance}/restart?{query}&connection=Storage",
        "suspendPostUri": f"{api}/instances/{instance}/suspend?reason={{text}}&{query}"
        "&connection=Storage",
        "resumePostUri": f"{api}/instances/{instance}/resume?reason={{text}}&{query}"
        "&connection=Storage",
    }
    assert reply.headers["Location"] == body["statusQueryGetUri"]
    assert reply.headers["Retry-After"] == "10"
    assert call("GET", body["statusQueryGetUri"]).status in (200, 202)


def test_start_without_an_id_generates_one(client: ManagementClient) -> None:
    reply = call("POST", f"{client.api}/orchestrators/Chain", b'"\\"Nia\\""', JSON)
    assert reply.status == 202
    instance = reply.json()["id"]
    assert re.fullmatch(r"[0-9a-f]{32}", instance)
    assert client.wait_until(instance)["output"][0] == "Hello Nia"


def test_start_on_a_running_instance_does_not_overwrite_it(client: ManagementClient) -> None:
    instance = start_waiting(client)
    reply = client.start("Chain", instance, "other")
    assert reply.status == 500
    assert reply.json()["ExceptionMessage"] == (
        "An Orchestration instance with the status Running already exists."
    )
    status = client.status(instance).json()
    assert status["name"] == "WaitTwo"
    assert status["runtimeStatus"] == "Running"
    client.raise_event(instance, "A", 1)
    client.raise_event(instance, "B", 2)
    assert client.wait_until(instance)["output"] == [1, 2]


def test_start_on_a_finished_instance_runs_it_again(client: ManagementClient) -> None:
    instance = completed(client, name="one")
    assert client.start("Chain", instance, "two").status == 202
    last: list[Reply] = []

    def rerun() -> dict[str, Any] | None:
        last[:] = [client.status(instance)]
        status: dict[str, Any] = last[0].json()
        if status["runtimeStatus"] == "Completed" and status["output"][0] == "Hello two":
            return status
        return None

    wait_for(
        f"the new run of {instance} to complete with 'Hello two'",
        rerun,
        30,
        interval=0.05,
        describe=lambda: str(last[0]),
    )


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/orchestrators/Chain/bad-json", b"{not json", "Invalid JSON content"),
        ("/orchestrators/NoSuchFunction/x1", b"1", "One or more of the arguments"),
        ("/orchestrators/Greet/x2", b"1", "One or more of the arguments"),
        ("/orchestrators/Chain/@entity", b"1", "One or more of the arguments"),
        ("/orchestrators/Chain/has%23hash", b"1", "One or more of the arguments"),
        ("/orchestrators/Chain/ctl%01char", b"1", "One or more of the arguments"),
        ("/orchestrators/Chain/" + "x" * 257, b"1", "One or more of the arguments"),
    ],
)
def test_bad_starts_answer_400(
    client: ManagementClient, path: str, body: bytes, message: str
) -> None:
    reply = call("POST", client.api + path, body, JSON)
    assert reply.status == 400
    assert reply.json()["Message"].startswith(message)


# Status


def test_status_of_an_unknown_instance_is_404_with_an_empty_body(
    client: ManagementClient,
) -> None:
    reply = client.status("nobody-" + uuid.uuid4().hex)
    assert reply.status == 404
    assert reply.body == b""


def test_status_of_a_running_instance_is_202_with_location(client: ManagementClient) -> None:
    instance = start_waiting(client)
    reply = client.status(instance)
    assert reply.status == 202
    assert reply.headers["Retry-After"] == "5"
    assert reply.headers["Location"].endswith(f"/instances/{instance}")
    body = reply.json()
    assert set(body) == {
        "name",
        "instanceId",
        "runtimeStatus",
        "input",
        "customStatus",
        "output",
        "createdTime",
        "lastUpdatedTime",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["createdTime"])
    client.post(instance, "terminate")


def test_status_options_show_or_hide_input_history_and_outputs(
    client: ManagementClient,
) -> None:
    instance = completed(client, name="opt")
    plain = client.status(instance)
    assert plain.status == 200
    assert plain.json()["input"] == '"opt"'
    assert "historyEvents" not in plain.json()
    hidden = client.status(instance, "?showInput=false&showHistory=true").json()
    assert hidden["input"] is None
    assert all("Result" not in e and "Input" not in e for e in hidden["historyEvents"])
    full = client.status(instance, "?showHistory=true&showHistoryOutput=true").json()
    events = full["historyEvents"]
    assert events[0]["EventType"] == "ExecutionStarted"
    assert events[0]["FunctionName"] == "Chain"
    assert "EventId" not in events[0] and "IsPlayed" not in events[0]
    task = events[1]
    assert task["EventType"] == "TaskCompleted"
    assert task["FunctionName"] == "Greet"
    assert task["Result"] == "Hello opt"
    assert "ScheduledTime" in task and "TaskScheduledId" not in task
    assert events[-1] == {
        "EventType": "ExecutionCompleted",
        "Timestamp": events[-1]["Timestamp"],
        "OrchestrationStatus": "Completed",
        "Result": ["Hello opt", "Hello Hello opt", "Hello Hello Hello opt"],
    }


def test_failed_instance_is_200_or_500_on_request(client: ManagementClient) -> None:
    instance = new_id("failed")
    client.start("Explode", instance)
    client.wait_until(instance)
    assert client.status(instance).status == 200
    assert client.status(instance, "?returnInternalServerErrorOnFailure=true").status == 500


# Query


def test_query_filters_by_prefix_status_and_created_time(client: ManagementClient) -> None:
    prefix = new_id("q")
    done = [completed(client, f"{prefix}-done") for _ in range(2)]
    running = start_waiting(client, f"{prefix}-run")
    reply = call("GET", f"{client.api}/instances/?instanceIdPrefix={prefix}")
    assert reply.status == 200
    assert sorted(s["instanceId"] for s in reply.json()) == sorted([*done, running])
    assert {s["input"] for s in reply.json()} == {'"x"', None}
    hidden = call("GET", f"{client.api}/instances?instanceIdPrefix={prefix}&showInput=false")
    assert all(s["input"] is None for s in hidden.json())
    only_running = call(
        "GET", f"{client.api}/instances/?instanceIdPrefix={prefix}&runtimeStatus=Running,Failed"
    ).json()
    assert [s["instanceId"] for s in only_running] == [running]
    future = "2999-01-01T00:00:00Z"
    later = call(
        "GET", f"{client.api}/instances/?instanceIdPrefix={prefix}&createdTimeFrom={future}"
    )
    assert later.json() == []
    past = "2000-01-01T00:00:00.000000Z"
    window = call(
        "GET",
        f"{client.api}/instances/?instanceIdPrefix={prefix}&createdTimeFrom={past}"
        f"&createdTimeTo={future}",
    )
    assert len(window.json()) == 3
    client.post(running, "terminate")


def test_query_pages_with_top_and_the_continuation_token(client: ManagementClient) -> None:
    prefix = new_id("page")
    ids = {completed(client, prefix) for _ in range(5)}
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        headers = {CONTINUATION: token} if token else {}
        reply = call(
            "GET", f"{client.api}/instances/?instanceIdPrefix={prefix}&top=2", None, headers
        )
        assert reply.status == 200
        page = [s["instanceId"] for s in reply.json()]
        assert len(page) <= 2
        seen += page
        pages += 1
        token = reply.headers.get(CONTINUATION)
        if not token:
            break
    assert sorted(seen) == sorted(ids)
    assert pages >= 3


# Events and control


def test_raise_event_errors(client: ManagementClient) -> None:
    unknown = f"{client.api}/instances/nobody-{uuid.uuid4().hex}/raiseEvent/A"
    assert call("POST", unknown, b"1", JSON).status == 404
    instance = start_waiting(client)
    url = f"{client.api}/instances/{instance}/raiseEvent/A"
    text_reply = call("POST", url, b"1", {"Content-Type": "text/plain"})
    assert text_reply.status == 400
    assert text_reply.json()["Message"] == "Only application/json request content is supported"
    bad = call("POST", url, b"{oops", JSON)
    assert bad.status == 400
    assert bad.json()["Message"] == "Invalid JSON content"
    assert call("POST", url, b'{"ok": true}', JSON).status == 202
    client.raise_event(instance, "B", "b")
    assert client.wait_until(instance)["output"] == [{"ok": True}, "b"]
    assert call("POST", url, b"1", JSON).status == 410


@pytest.mark.parametrize("operation", ["terminate", "suspend", "resume"])
def test_control_operations_on_unknown_and_finished_instances(
    client: ManagementClient, operation: str
) -> None:
    assert client.post("nobody-" + uuid.uuid4().hex, operation).status == 404
    assert client.post(completed(client), operation, "?reason=late").status == 410


# Purge


def test_purge_one_instance(client: ManagementClient) -> None:
    instance = completed(client)
    reply = call("DELETE", f"{client.api}/instances/{instance}")
    assert reply.status == 200
    assert reply.json() == {"instancesDeleted": 1}
    assert client.status(instance).status == 404
    assert call("DELETE", f"{client.api}/instances/{instance}").status == 404


def test_purge_by_filter(client: ManagementClient) -> None:
    missing = call("DELETE", f"{client.api}/instances/")
    assert missing.status == 400
    assert missing.json() == "Please provide value for 'createdTimeFrom' parameter."
    running = start_waiting(client, "purge-run")
    finished = [completed(client, "purge-done") for _ in range(2)]
    from_now = call("DELETE", f"{client.api}/instances/?createdTimeFrom=2999-01-01T00:00:00Z")
    assert from_now.status == 404
    reply = call(
        "DELETE",
        f"{client.api}/instances/?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Completed",
    )
    assert reply.status == 200
    assert reply.json()["instancesDeleted"] >= 2
    assert all(client.status(i).status == 404 for i in finished)
    assert client.status(running).status == 202
    client.post(running, "terminate")


# Restart


def test_restart_with_a_new_instance_id_reruns_with_the_same_input(
    client: ManagementClient,
) -> None:
    instance = completed(client, name="again")
    reply = client.post(instance, "restart")
    assert reply.status == 202
    new_instance = reply.json()["id"]
    assert new_instance != instance
    status = client.wait_until(new_instance)
    assert status["output"][0] == "Hello again"
    assert status["input"] == '"again"'


def test_restart_in_place_and_unknown_instances(client: ManagementClient) -> None:
    instance = completed(client, name="same")
    reply = client.post(instance, "restart", "?restartWithNewInstanceId=false")
    assert reply.status == 202
    assert reply.json()["id"] == instance
    unknown = client.post("nobody-" + uuid.uuid4().hex, "restart")
    assert unknown.status == 400
    assert unknown.json()["Message"] == "InstanceId does not match a valid orchestration instance."


# The SDK's own client, through the durableClient binding and the rpc API


def client_op(client: ManagementClient, op: str, instance: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    reply = call("POST", f"{client.origin}/api/client/{op}/{instance}", data, JSON)
    assert reply.status in (200, 202), reply.body
    return reply.json()


def test_sdk_client_drives_instances_through_the_rpc_api(client: ManagementClient) -> None:
    instance = new_id("sdk")
    started = client_op(client, "start", instance, {"function": "WaitTwo"})
    assert started["id"] == instance
    assert started["statusQueryGetUri"].startswith(client.origin + "/runtime/webhooks/")
    client.wait_until(instance, ("Running",))
    client_op(client, "raise", instance, {"event": "A", "data": {"n": 1}})
    client_op(client, "raise", instance, {"event": "B", "data": [2]})
    client.wait_until(instance)
    status = client_op(client, "status", instance)
    assert status["runtimeStatus"] == "Completed"
    # The Python client double-encodes event data: the orchestrator receives JSON text.
    assert status["output"] == ['{"n": 1}', "[2]"]
    assert instance in client_op(client, "list", instance)
    assert client_op(client, "purge", instance) == {"deleted": 1}
    assert client_op(client, "status", instance) is None


def test_sdk_client_suspends_resumes_and_terminates(client: ManagementClient) -> None:
    instance = new_id("sdkctl")
    client_op(client, "start", instance, {"function": "WaitTwo"})
    client.wait_until(instance, ("Running",))
    client_op(client, "suspend", instance)
    client.wait_until(instance, ("Suspended",))
    client_op(client, "resume", instance)
    client.wait_until(instance, ("Running",))
    client_op(client, "terminate", instance, {"reason": "no longer needed"})
    status = client.wait_until(instance)
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "no longer needed"


def test_rpc_and_webhook_paths_serve_the_same_api(client: ManagementClient) -> None:
    instance = completed(client)
    webhook = client.status(instance)
    rpc = call("GET", f"{client.origin}/durabletask/instances/{instance}")
    assert rpc.status == webhook.status == 200
    assert rpc.json() == webhook.json()


def test_start_with_timeout_waits_for_the_output(client: ManagementClient) -> None:
    instance = new_id("waited")
    url = f"{client.api}/orchestrators/Chain/{instance}?timeout=20&pollingInterval=0.1"
    reply = call("POST", url, json.dumps(json.dumps("Wes")).encode(), JSON)
    assert reply.status == 200
    assert reply.json() == ["Hello Wes", "Hello Hello Wes", "Hello Hello Hello Wes"]


def test_start_with_a_short_timeout_answers_202_while_running(client: ManagementClient) -> None:
    instance = new_id("unwaited")
    url = f"{client.api}/orchestrators/WaitTwo/{instance}?timeout=0.2&pollingInterval=0.1"
    reply = call("POST", url, None, JSON)
    assert reply.status == 202
    assert reply.json()["id"] == instance
    client.post(instance, "terminate")


def test_payloads_too_large_for_storage_are_refused_with_400(client: ManagementClient) -> None:
    instance = new_id("bigin")
    started = client.start("Chain", instance, "z" * 40_000)
    assert started.status == 400
    assert "too large for Azure Table storage" in started.json()["ExceptionMessage"]
    waiting = start_waiting(client)
    raised = client.raise_event(waiting, "A", "z" * 40_000)
    assert raised.status == 400
    assert "too large" in raised.json()["ExceptionMessage"]
    client.post(waiting, "terminate")
