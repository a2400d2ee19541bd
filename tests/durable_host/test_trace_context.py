"""The trace context functions receive (`context.trace_context`), as the Functions host makes it:
an HTTP trigger continues the caller's W3C `traceparent` in a span of its own, or starts a trace;
orchestrator and activity invocations get none when no telemetry is configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_host.host import LocalHost
from durable_host.testing import DurableTestEnv
from durable_host.trace_context import SpanContext, http_request_trace, parse_traceparent
from tests.http_client import call

from .conftest import RunningHost, twins

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
STATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"


def fields(trace_parent: str) -> SpanContext:
    parsed = parse_traceparent(trace_parent)
    assert parsed is not None, f"{trace_parent!r} is not a valid traceparent"
    assert trace_parent.startswith("00-"), "the host writes version 00"
    return parsed


# Parsing, as W3C Trace Context says a receiver must


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (CALLER, SpanContext(CALLER_TRACE, CALLER_SPAN, sampled=True)),
        (f"00-{CALLER_TRACE}-{CALLER_SPAN}-00", SpanContext(CALLER_TRACE, CALLER_SPAN, False)),
        (f"00-{CALLER_TRACE}-{CALLER_SPAN}-09", SpanContext(CALLER_TRACE, CALLER_SPAN, True)),
        (f"  {CALLER}\t", SpanContext(CALLER_TRACE, CALLER_SPAN, True)),
        # A later version may add fields after a "-"; the first four are read as version 00's.
        (
            f"cc-{CALLER_TRACE}-{CALLER_SPAN}-01-future",
            SpanContext(CALLER_TRACE, CALLER_SPAN, True),
        ),
        (f"01-{CALLER_TRACE}-{CALLER_SPAN}-00", SpanContext(CALLER_TRACE, CALLER_SPAN, False)),
    ],
)
def test_a_valid_traceparent_is_read(value: str, expected: SpanContext) -> None:
    assert parse_traceparent(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        f"ff-{CALLER_TRACE}-{CALLER_SPAN}-01",
        f"00-{CALLER_TRACE.upper()}-{CALLER_SPAN}-01",
        f"00-{CALLER_TRACE}-{CALLER_SPAN.upper()}-01",
        f"00-{'0' * 32}-{CALLER_SPAN}-01",
        f"00-{CALLER_TRACE}-{'0' * 16}-01",
        f"00-{CALLER_TRACE}-{CALLER_SPAN}-01-extra",
        f"00-{CALLER_TRACE}-{CALLER_SPAN}-0",
        f"00-{CALLER_TRACE[:-1]}-{CALLER_SPAN}-01",
        f"00-{CALLER_TRACE}-{CALLER_SPAN}x01",
        f"0-{CALLER_TRACE}-{CALLER_SPAN}-01",
        f"00-{CALLER_TRACE[:-1]}g-{CALLER_SPAN}-01",
        f"00-{CALLER_TRACE}-{CALLER_SPAN}-0g",
        f"cc-{CALLER_TRACE}-{CALLER_SPAN}-01.future",
        f"{CALLER},{CALLER}",
    ],
)
def test_a_malformed_traceparent_is_not_read(value: str) -> None:
    assert parse_traceparent(value) is None


@given(
    trace=st.integers(min_value=1, max_value=2**128 - 1),
    span=st.integers(min_value=1, max_value=2**64 - 1),
    sampled=st.booleans(),
)
def test_every_span_context_reads_back_from_its_traceparent(
    trace: int, span: int, sampled: bool
) -> None:
    context = SpanContext(f"{trace:032x}", f"{span:016x}", sampled)
    assert parse_traceparent(context.traceparent) == context


# The host's span for an HTTP request


def test_an_http_request_continues_the_callers_trace_in_a_new_span() -> None:
    trace = http_request_trace([("Traceparent", CALLER), ("TraceState", STATE)])
    span = fields(trace.trace_parent)
    assert (span.trace_id, span.sampled) == (CALLER_TRACE, True)
    assert span.span_id != CALLER_SPAN
    assert trace.trace_state == STATE
    assert trace.attributes == {}


def test_repeated_tracestate_headers_are_joined_as_one_list() -> None:
    trace = http_request_trace(
        [("traceparent", CALLER), ("tracestate", "a=1"), ("tracestate", "b=2")]
    )
    assert trace.trace_state == "a=1,b=2"


def test_an_unsampled_caller_gives_an_unsampled_span() -> None:
    trace = http_request_trace([("traceparent", f"00-{CALLER_TRACE}-{CALLER_SPAN}-00")])
    assert fields(trace.trace_parent).sampled is False


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("tracestate", STATE)],
        [("traceparent", "00-not-a-trace-01"), ("tracestate", STATE)],
        [("traceparent", CALLER), ("traceparent", CALLER), ("tracestate", STATE)],
    ],
    ids=["none", "tracestate-only", "malformed", "repeated"],
)
def test_without_a_valid_traceparent_a_request_starts_a_new_unsampled_trace(
    headers: list[tuple[str, str]],
) -> None:
    first, second = http_request_trace(headers), http_request_trace(headers)
    span = fields(first.trace_parent)
    assert span.trace_id != CALLER_TRACE
    assert span.sampled is False
    assert fields(second.trace_parent).trace_id != span.trace_id
    assert first.trace_state == ""


# What a function sees, over real HTTP


@pytest.fixture(scope="module", params=twins("http_app"))
def http_app(request: pytest.FixtureRequest) -> Path:
    return Path(request.param)


@pytest.fixture
def served(http_app: Path, running_host: RunningHost) -> Iterator[LocalHost]:
    with running_host(http_app) as host:
        yield host


def seen_over_http(host: LocalHost, headers: dict[str, str]) -> dict[str, Any]:
    reply = call("GET", f"{host.base_url}/api/context", headers=headers)
    assert reply.status == 200, str(reply)
    seen: dict[str, Any] = reply.json()
    return seen


def test_an_http_function_sees_the_callers_trace_continued(served: LocalHost) -> None:
    seen = seen_over_http(served, {"traceparent": CALLER, "tracestate": STATE})
    span = fields(seen["trace_parent"])
    assert (span.trace_id, span.sampled) == (CALLER_TRACE, True)
    assert span.span_id != CALLER_SPAN
    assert seen["trace_state"] == STATE
    assert seen["attributes"] == {}
    assert seen["Traceparent"] == seen["trace_parent"]
    again = seen_over_http(served, {"traceparent": CALLER})
    assert fields(again["trace_parent"]).span_id != span.span_id
    assert again["trace_state"] == ""


def test_an_http_function_ignores_a_malformed_traceparent(served: LocalHost) -> None:
    malformed = f"00-{CALLER_TRACE.upper()}-{CALLER_SPAN}-01"
    seen = seen_over_http(served, {"traceparent": malformed, "tracestate": STATE})
    span = fields(seen["trace_parent"])
    assert span.trace_id not in (CALLER_TRACE, CALLER_TRACE.upper())
    assert seen["trace_state"] == ""


def test_an_http_function_called_without_a_trace_starts_one(served: LocalHost) -> None:
    first, second = seen_over_http(served, {}), seen_over_http(served, {})
    assert fields(first["trace_parent"]).sampled is False
    assert fields(first["trace_parent"]).trace_id != fields(second["trace_parent"]).trace_id


# What functions see on the test kit


async def test_on_the_kit_an_http_function_sees_the_callers_trace_continued(
    http_app: Path,
) -> None:
    async with DurableTestEnv(http_app) as env:
        reply = await env.request(
            "GET", "/api/context", headers={"traceparent": CALLER, "tracestate": STATE}
        )
    seen = reply.json()
    span = fields(seen["trace_parent"])
    assert span.trace_id == CALLER_TRACE
    assert span.span_id != CALLER_SPAN
    assert seen["trace_state"] == STATE


# host.json's telemetry settings, as app settings override them on Azure.
TELEMETRY_ON = {
    "AzureFunctionsJobHost__telemetryMode": "OpenTelemetry",
    "AzureFunctionsJobHost__extensions__durableTask__tracing__DistributedTracingEnabled": "true",
    "AzureFunctionsJobHost__extensions__durableTask__tracing__Version": "V2",
}


@pytest.mark.parametrize("settings", [{}, TELEMETRY_ON], ids=["default", "telemetry-settings"])
@pytest.mark.parametrize("app", twins("orchestrations"))
async def test_orchestrators_and_activities_get_no_trace(
    app: Path, settings: dict[str, str]
) -> None:
    """What the host sends when neither Application Insights nor Durable distributed tracing is
    configured: no activity is current, so empty strings and no attributes. The telemetry
    settings are accepted and ignored (docs/durable_host.md says what Azure does with them)."""
    async with DurableTestEnv(app, settings=settings) as env:
        instance = await env.start("TraceSeen")
        status = await env.wait_for(instance, "Completed")
    empty = {"trace_parent": "", "trace_state": "", "attributes": {}}
    assert status.output == {"orchestrator": empty, "activity": empty}
