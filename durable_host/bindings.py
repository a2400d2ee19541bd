"""Glue to azure.functions' own converters, so functions receive what the Python worker gives them.

The host side speaks in the worker's Datum shapes (the gRPC TypedData, already unpacked); the
converters from `azure.functions.meta.get_binding_registry()` turn them into Python values and
back, exactly as they do inside the real worker.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any, Generic, TypeVar

import azure.functions as func
from azure.functions import _abc, meta

from durable_host.trace_context import InvocationTrace

T = TypeVar("T")


class BindingError(Exception):
    """A value could not pass through a binding's converter (the worker fails the invocation)."""


def _converter(binding_type: str) -> Any:
    converter = meta.get_binding_registry().get(binding_type)  # type: ignore[no-untyped-call]
    if converter is None:
        raise BindingError(f"azure.functions has no converter for binding type {binding_type!r}")
    return converter


def decode(binding_type: str, datum: meta.Datum) -> Any:
    try:
        return _converter(binding_type).decode(datum, trigger_metadata={})
    except NotImplementedError:
        raise BindingError(
            f"unable to decode incoming {datum.type!r} data for binding type {binding_type!r}"
        ) from None


def encode(binding_type: str, value: Any) -> meta.Datum:
    try:
        datum: meta.Datum = _converter(binding_type).encode(value, expected_type=None)
    except NotImplementedError:
        raise BindingError(
            f"unable to encode outgoing data: binding type {binding_type!r} does not accept "
            f"Python type {type(value).__name__!r}"
        ) from None
    return datum


def accepts_annotation(binding_type: str, annotation: type, output: bool) -> bool:
    """Whether the converter accepts a parameter (or return) annotated with this type, as the
    worker checks at load time. str and bytes always pass for bindings without an implicit output
    (the worker binds those generically)."""
    converter = _converter(binding_type)
    if annotation in (str, bytes) and not getattr(converter, "has_implicit_output", bool)():
        return True
    check = (
        converter.check_output_type_annotation if output else converter.check_input_type_annotation
    )
    return bool(check(annotation))


# HTTP


def http_request_datum(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    query: Iterable[tuple[str, str]],
    route_params: Mapping[str, str],
    body: bytes,
) -> meta.Datum:
    """The `http` Datum the worker builds from the host's RpcHttp: header names lower-cased,
    repeated headers and query keys joined with "," (as .NET's StringValues prints them), the body
    always bytes."""
    joined_headers = _joined((name.lower(), value) for name, value in headers)
    joined_query = _joined(query)
    return meta.Datum(
        type="http",
        value={
            "method": meta.Datum(method, "string"),
            "url": meta.Datum(url, "string"),
            "headers": {k: meta.Datum(v, "string") for k, v in joined_headers.items()},
            "query": {k: meta.Datum(v, "string") for k, v in joined_query.items()},
            "params": {k: meta.Datum(v, "string") for k, v in route_params.items()},
            "body": meta.Datum(body, "bytes"),
        },
    )


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _text(datum: meta.Datum | None) -> bytes:
    if datum is None or datum.value is None:
        return b""
    value = datum.value
    return value if isinstance(value, bytes) else str(value).encode()


def http_result(datum: meta.Datum) -> HttpResult:
    """What the host sends the client for an `http` output Datum."""
    if datum.type == "http":
        value = datum.value
        headers = [(name, str(header.value)) for name, header in value["headers"].items()]
        cookies: list[SimpleCookie] = value.get("cookies") or []
        for cookie in cookies:
            headers += [("Set-Cookie", morsel.OutputString()) for morsel in cookie.values()]
        return HttpResult(int(value["status_code"].value), headers, _text(value["body"]))
    content_type = {
        "json": "application/json",
        "bytes": "application/octet-stream",
    }.get(str(datum.type), "text/plain; charset=utf-8")
    return HttpResult(200, [("Content-Type", content_type)], _text(datum))


# Durable Functions


def orchestration_context(context_json: str) -> Any:
    """The orchestrationTrigger argument: the context JSON wrapped by the library's converter."""
    return decode("orchestrationTrigger", meta.Datum(context_json, "string"))


def orchestrator_state(result: Any) -> str:
    """The orchestrator's return (the SDK's state JSON) through the trigger's implicit output."""
    value = encode("orchestrationTrigger", result).value
    if not isinstance(value, str):
        raise BindingError(f"orchestrator returned {type(value).__name__}, not the state JSON")
    return value


def activity_input(input_text: str) -> Any:
    """The activity argument from the action's `input` text, sent as a string as the host does."""
    return decode("activityTrigger", meta.Datum(input_text, "string"))


def activity_output(result: Any) -> str:
    value = encode("activityTrigger", result).value
    assert isinstance(value, str)
    return value


def durable_client(payload: str) -> Any:
    """The durableClient argument: the binding payload JSON string."""
    return decode("durableClient", meta.Datum(payload, "string"))


# Parameters the worker itself supplies


class OutputParameter(func.Out[T], Generic[T]):
    """A named output binding: the function calls `.set(value)`."""

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, val: T) -> None:
        self._value = val

    def get(self) -> T:
        return self._value  # type: ignore[return-value]


class TraceContext(_abc.TraceContext):
    """`context.trace_context`, as the worker builds it from the invocation's `RpcTraceContext`,
    with the worker's older capitalised names too, so code written against either reads it."""

    def __init__(self, trace: InvocationTrace) -> None:
        self._trace = trace
        self._attributes = dict(trace.attributes)

    @property
    def trace_state(self) -> str:
        return self._trace.trace_state

    @property
    def trace_parent(self) -> str:
        return self._trace.trace_parent

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes

    # The worker's deprecated names.

    @property
    def Tracestate(self) -> str:
        return self.trace_state

    @property
    def Traceparent(self) -> str:
        return self.trace_parent

    @property
    def Attributes(self) -> dict[str, str]:
        return self.attributes


class _RetryContext(_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    """The `context` parameter a function may declare without a binding."""

    def __init__(
        self,
        invocation_id: str,
        function_name: str,
        function_directory: str,
        trace: InvocationTrace,
    ) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = TraceContext(trace)
        self._local = threading.local()

    def enter_thread(self) -> None:
        """Record the invocation id in the calling thread's storage, as the worker does in the
        thread that runs the function (so that logging can tell invocations apart)."""
        self._local.invocation_id = self._invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> _abc.TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> _abc.RetryContext:
        return _RetryContext()
