"""W3C Trace Context for invocations: what the host sends with each one in `RpcTraceContext`, which
the Python worker hands a function as `context.trace_context`.

The Functions host sends the id, trace state and string tags of `Activity.Current` at the moment
it invokes the function (azure-functions-host: `WorkerFunctionInvoker.InvokeCore`, then
`ScriptInvocationContextExtensions.GetRpcTraceContext`, which turns a missing activity into empty
strings). For an HTTP trigger that activity is ASP.NET Core's request activity: a new span in the
caller's trace when the request carries a valid `traceparent`, else the root span of a new trace,
with no tags unless telemetry adds them. For orchestrator and activity invocations nothing is
current unless Application Insights or Durable distributed tracing is configured, so the host sends
empty strings and no attributes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

# version-traceid-parentid-flags, lower-case hex only (W3C Trace Context, "traceparent Header").
_TRACEPARENT = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>.*)",
    re.DOTALL,
)
_SAMPLED = 0x01


@dataclass(frozen=True)
class SpanContext:
    """One span's place in a trace: what a `traceparent` carries."""

    trace_id: str
    span_id: str
    sampled: bool = False

    @property
    def traceparent(self) -> str:
        """The version-00 `traceparent` of this span (only the sampled flag is defined)."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def child(self) -> SpanContext:
        """A new span in the same trace, keeping the caller's sampling decision."""
        return SpanContext(self.trace_id, new_span_id(), self.sampled)


def parse_traceparent(value: str) -> SpanContext | None:
    """The caller's span, or None for a value a receiver must ignore: version ff, upper-case or
    non-hex digits, an all-zero trace or span id, a version-00 value that is not exactly four
    fields, or a later version whose fifth field does not start with "-"."""
    found = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if found is None:
        return None
    version, trace_id, span_id, flags, rest = found.group(
        "version", "trace_id", "span_id", "flags", "rest"
    )
    if version == "ff" or (version == "00" and rest) or (rest and not rest.startswith("-")):
        return None
    if not int(trace_id, 16) or not int(span_id, 16):
        return None
    return SpanContext(trace_id, span_id, bool(int(flags, 16) & _SAMPLED))


def new_trace_id() -> str:
    return _random_hex(16)


def new_span_id() -> str:
    return _random_hex(8)


def _random_hex(size: int) -> str:
    while True:
        value = secrets.token_hex(size)
        if int(value, 16):  # all zeros is the one invalid id
            return value


@dataclass(frozen=True)
class InvocationTrace:
    """The `RpcTraceContext` of one invocation: `Activity.Current?.Id`, its trace state and its
    string tags, each empty when no activity is current."""

    trace_parent: str = ""
    trace_state: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


NO_TRACE = InvocationTrace()
"""What orchestrator and activity invocations get when no telemetry is configured."""


def http_request_trace(headers: Iterable[tuple[str, str]]) -> InvocationTrace:
    """The trace context of the host's span for an HTTP request: a child of the caller's span
    when the request has one valid `traceparent` (its `tracestate` passed on, repeated headers
    joined with ","), else the root of a new, unsampled trace. A malformed or repeated
    `traceparent` is ignored, as W3C Trace Context requires, and so is the `tracestate` then."""
    parents: list[str] = []
    states: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == TRACEPARENT:
            parents.append(value)
        elif lowered == TRACESTATE:
            states.append(value)
    caller = parse_traceparent(parents[0]) if len(parents) == 1 else None
    if caller is None:
        return InvocationTrace(SpanContext(new_trace_id(), new_span_id()).traceparent)
    return InvocationTrace(caller.child().traceparent, ",".join(states))
