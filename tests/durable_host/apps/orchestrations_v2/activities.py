"""The activities, on a blueprint the app registers: each one's function name is set by
`function_name`, so the Python names can follow Python's style."""

import asyncio
import collections
import time

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()

attempts: collections.Counter = collections.Counter()


@bp.function_name("Flaky")
@bp.activity_trigger(input_name="value")
def flaky(value: dict) -> int:
    """Fails the first `failures` calls for a key, then returns the attempt number."""
    attempts[value["key"]] += 1
    attempt = attempts[value["key"]]
    if attempt <= value["failures"]:
        raise ValueError(f"attempt {attempt} of {value['key']} failed")
    return attempt


@bp.function_name("Greet")
@bp.activity_trigger(input_name="value")
def greet(value: str) -> str:
    """Prefixes its input: the output shows the order activities ran in."""
    return f"Hello {value}"


@bp.function_name("Huge")
@bp.activity_trigger(input_name="value")
def huge(value: int) -> str:
    """Returns a string of the requested length (large ones exceed a table property)."""
    return "x" * value


@bp.function_name("Pause")
@bp.activity_trigger(input_name="value")
def pause(value: int) -> int:
    """Returns its input after a pause, like a call to a slow service."""
    time.sleep(0.15)
    return value


@bp.function_name("Square")
@bp.activity_trigger(input_name="value")
async def square(value: int) -> int:
    """Squares a number after a short pause, so that fan-outs overlap (async: awaited on the
    host's event loop, where the sync activities run in its thread pool)."""
    await asyncio.sleep(0.05)
    return value * value


@bp.function_name("Sum")
@bp.activity_trigger(input_name="value")
def add_up(value: list) -> int:
    """Adds up a list of numbers."""
    return sum(value)


@bp.function_name("Track")
@bp.activity_trigger(input_name="value")
def track(value: int) -> int:
    """One of Crowd's calls; test_engine_concurrency replaces it with one that reports how many
    ran at once."""
    return 1


@bp.function_name("Traced")
@bp.activity_trigger(input_name="value")
def traced(value: str, context: func.Context) -> dict:
    """Reports the trace context the host invoked it with."""
    trace = context.trace_context
    return {
        "trace_parent": trace.trace_parent,
        "trace_state": trace.trace_state,
        "attributes": trace.attributes,
    }
