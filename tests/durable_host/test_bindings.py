"""What functions receive and return through azure.functions' real converters."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from durable_host.app import FunctionApp
from durable_host.bindings import BindingError, HttpResult, http_request_datum
from durable_host.contracts import ActivityError, FunctionInvocationError
from durable_host.engine import Engine, EngineOptions
from durable_host.management import client_binding_payload
from durable_host.table_store import TableTaskHubStore
from durable_host.trace_context import http_request_trace

from .conftest import twins

# Where each twin's functions live, as the worker reports them: a v1 function's folder, and for a
# v2 function the folder of the file that defines it.
CONTEXT_FOLDER = {"http_app": "WithContext", "http_app_v2": "http_app_v2"}
FAILS_SOURCE = {"http_app": "Fails/__init__.py", "http_app_v2": "http_app_v2/function_app.py"}


@pytest.fixture(scope="module", params=twins("http_app"))
def app(request: pytest.FixtureRequest) -> Iterator[FunctionApp]:
    loaded = FunctionApp.load(request.param)
    yield loaded
    loaded.close()


def http(app: FunctionApp, name: str, **request: Any) -> HttpResult:
    headers = request.get("headers", [])
    datum = http_request_datum(
        request.get("method", "GET"),
        request.get("url", "http://127.0.0.1:7071/api/echo/7"),
        headers,
        request.get("query", []),
        request.get("route_params", {}),
        request.get("body", b""),
    )
    return asyncio.run(app.run_http(name, datum, http_request_trace(headers)))


def context_json(name: str, history: list[dict[str, Any]] | None = None) -> str:
    started = {
        "EventType": 12,
        "EventId": -1,
        "IsPlayed": False,
        "Timestamp": "2026-01-01T00:00:00Z",
    }
    execution = {
        "EventType": 0,
        "EventId": -1,
        "IsPlayed": False,
        "Timestamp": "2026-01-01T00:00:00Z",
        "Name": name,
        "Version": "",
        "Input": None,
        "OrchestrationInstance": {"InstanceId": "abc", "ExecutionId": "e1"},
        "ParentInstance": None,
        "Tags": None,
    }
    return json.dumps(
        {
            "history": [started, execution, *(history or [])],
            "input": None,
            "instanceId": "abc",
            "isReplaying": False,
            "parentInstanceId": None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
    )


def test_http_request_fields_reach_the_function(app: FunctionApp) -> None:
    result = http(
        app,
        "Echo",
        method="POST",
        url="http://127.0.0.1:7071/api/echo/7/blue?size=L&size=XL&q=1",
        headers=[
            ("X-Order", "o-1"),
            ("Content-Type", "application/xml"),
            ("X-Multi", "a"),
            ("x-multi", "b"),
        ],
        query=[("size", "L"), ("size", "XL"), ("q", "1")],
        route_params={"id": "7", "label": "blue"},
        body=b"<order id='7'/>",
    )
    assert result.status == 200
    received = json.loads(result.body)
    assert received["method"] == "POST"
    assert received["url"] == "http://127.0.0.1:7071/api/echo/7/blue?size=L&size=XL&q=1"
    assert received["route_params"] == {"id": "7", "label": "blue"}
    assert received["params"] == {"size": "L,XL", "q": "1"}
    assert received["headers"]["x-order"] == "o-1"
    assert received["headers"]["x-multi"] == "a,b"
    assert received["headers"]["content-type"] == "application/xml"
    assert base64.b64decode(received["body_base64"]) == b"<order id='7'/>"
    assert ("content-type", "application/json") in result.headers


def test_binary_bodies_arrive_as_bytes(app: FunctionApp) -> None:
    payload = bytes(range(256))
    result = http(app, "Echo", method="PUT", body=payload, route_params={"id": "1"})
    assert base64.b64decode(json.loads(result.body)["body_base64"]) == payload


def test_named_http_output_with_status_headers_and_cookie(app: FunctionApp) -> None:
    result = http(app, "NamedOutput", method="POST", body=b"created body")
    assert result.status == 201
    assert result.body == b"created body"
    assert ("X-Saga", "created") in result.headers
    assert ("Set-Cookie", "session=abc; Path=/") in result.headers


def test_a_string_return_is_a_200_text_response(app: FunctionApp) -> None:
    result = http(app, "PlainText")
    assert (result.status, result.body) == (200, b"just a string")
    assert ("Content-Type", "text/plain; charset=utf-8") in result.headers


def test_a_return_the_http_converter_refuses_fails_the_invocation(app: FunctionApp) -> None:
    with pytest.raises(BindingError, match="does not accept Python type 'dict'"):
        http(app, "DictReturn")


def test_async_functions_are_awaited(app: FunctionApp) -> None:
    result = http(app, "AsyncHello", route_params={"name": "Ada"})
    assert result.body == b"Hello Ada"


def test_unbound_context_parameter_receives_the_invocation_context(app: FunctionApp) -> None:
    first = json.loads(http(app, "WithContext").body)
    second = json.loads(http(app, "WithContext").body)
    folder = CONTEXT_FOLDER[app.app_dir.name]
    assert (first["function_name"], first["folder"]) == ("WithContext", folder)
    assert first["thread_invocation_id"] == first["invocation_id"]
    assert str(uuid.UUID(first["invocation_id"])) == first["invocation_id"]
    assert first["invocation_id"] != second["invocation_id"]


def test_relative_and_app_level_imports_work(app: FunctionApp) -> None:
    assert http(app, "RelativeImport").body == b"shared+relative"


@pytest.mark.parametrize(
    ("input_text", "output_text"),
    [
        ('"Tokyo"', '"Tokyo"'),
        ('{"sku": "A", "qty": 2}', '{"sku": "A", "qty": 2}'),
        ("12.5", "12.5"),
        ("null", "null"),
        ("[1, 2]", "[1, 2]"),
        ("not json", '"not json"'),
    ],
)
def test_activity_input_and_output_encoding(
    app: FunctionApp, input_text: str, output_text: str
) -> None:
    assert asyncio.run(app.run_activity("Identity", input_text)) == output_text


def test_activity_receives_the_decoded_value(app: FunctionApp) -> None:
    assert asyncio.run(app.run_activity("hello", '"Seattle"')) == '"Hello Seattle!"'


def test_an_activity_that_raises_becomes_an_activity_error(app: FunctionApp) -> None:
    with pytest.raises(ActivityError) as raised:
        asyncio.run(app.run_activity("Fails", '{"order": 1}'))
    error = raised.value
    assert (
        error.reason == "Activity function 'Fails' failed:  ValueError: cannot handle {'order': 1}"
    )
    details = json.loads(error.details)
    assert details["Message"] == " ValueError: cannot handle {'order': 1}"
    assert FAILS_SOURCE[app.app_dir.name] in details["InnerException"]["RemoteStackTraceString"]


def test_the_orchestrator_returns_the_sdk_state(app: FunctionApp) -> None:
    state = json.loads(app.call_orchestrator("HelloSequence", context_json("x")))
    assert state["isDone"] is False
    assert state["actions"] == [[{"actionType": 0, "functionName": "Hello", "input": '"Tokyo"'}]]


def test_an_orchestrator_exception_yields_the_out_of_proc_state(app: FunctionApp) -> None:
    history = [
        {"EventType": 4, "EventId": 0, "IsPlayed": False, "Timestamp": "2026-01-01T00:00:01Z"}
        | {"Name": "Hello", "Input": '["\\"first\\""]'},
        {"EventType": 13, "EventId": -1, "IsPlayed": False, "Timestamp": "2026-01-01T00:00:01Z"},
        {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": "2026-01-01T00:00:02Z"},
        {"EventType": 5, "EventId": -1, "IsPlayed": False, "Timestamp": "2026-01-01T00:00:02Z"}
        | {"TaskScheduledId": 0, "Result": '"Hello first!"'},
    ]
    state = json.loads(app.call_orchestrator("Explodes", context_json("x", history)))
    assert state["isDone"] is False
    assert "the orchestrator gave up" in state["error"]


def test_an_orchestrator_calling_sys_exit_fails_instead_of_ending_the_host(
    app: FunctionApp,
) -> None:
    with pytest.raises(FunctionInvocationError, match=r"RuntimeError: .*sys\.exit\(3\)"):
        app.call_orchestrator("ExitsOrchestrating", context_json("x"))


def test_unknown_functions_and_wrong_kinds_are_invocation_errors(app: FunctionApp) -> None:
    assert app.kind_of("nosuch") is None
    with pytest.raises(FunctionInvocationError, match="doesn't exist"):
        asyncio.run(app.run_activity("NoSuch", "null"))
    with pytest.raises(FunctionInvocationError, match="is of kind orchestrator, not activity"):
        asyncio.run(app.run_activity("HelloSequence", "null"))


def test_the_durable_client_payload_is_usable_by_the_sdk(
    app: FunctionApp, storage_connection_string: str, unique_name: str
) -> None:
    async def links() -> HttpResult:
        store = await TableTaskHubStore.open(storage_connection_string, unique_name)
        engine = Engine(store, EngineOptions(hub_name=unique_name), app)
        try:
            app.bind_durable_client(lambda: client_binding_payload(engine, "http://127.0.0.1:7071"))
            datum = http_request_datum(
                "GET", "http://127.0.0.1:7071/api/links/i-1", [], [], {"instanceId": "i-1"}, b""
            )
            return await app.run_http("ClientLinks", datum, http_request_trace([]))
        finally:
            await engine.stop()

    received = json.loads(asyncio.run(links()).body)
    assert received["binding"]["taskHubName"] == unique_name
    assert received["binding"]["rpcBaseUrl"] == "http://127.0.0.1:7071/durabletask/"
    assert received["links"]["id"] == "i-1"
    assert received["links"]["terminatePostUri"].startswith(
        "http://127.0.0.1:7071/runtime/webhooks/durabletask/instances/i-1/terminate?reason="
    )
