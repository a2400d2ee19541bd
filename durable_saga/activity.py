"""The adapter every activity of a declared saga wears, so that its own code sees only its payload:

    @saga_activity
    def main(order: Any) -> dict[str, Any]:
        ...

A traced saga sends each attempt `{"traceContext": ..., "payload": ...}` (durable_saga.documents):
the adapter hands the function the payload, and while it runs makes the attempt's span current,
so that spans the activity's code or its libraries start are children of the attempt's span. A
payload sent without a trace context (the saga was started while tracing was off) reaches the
function as it is. The function's signature is kept, so the Functions worker binds it as before.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from durable_saga import tracing
from durable_saga.documents import TraceContext, untraced_payload

F = TypeVar("F", bound=Callable[..., Any])


def saga_activity(function: F) -> F:
    """`function`, whose first parameter (the activityTrigger's) receives the attempt's payload,
    run with the attempt's span current."""
    parameters = list(inspect.signature(function).parameters)
    if not parameters:
        raise TypeError(f"{function.__qualname__} takes no parameter for the activity's payload")
    trigger = parameters[0]

    def unwrapped(
        args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any], TraceContext | None]:
        if trigger in kwargs:
            payload, trace_context = untraced_payload(kwargs[trigger])
            return args, {**kwargs, trigger: payload}, trace_context
        payload, trace_context = untraced_payload(args[0])
        return (payload, *args[1:]), kwargs, trace_context

    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            args, kwargs, trace_context = unwrapped(args, kwargs)
            with tracing.current(trace_context):
                return await function(*args, **kwargs)

        return cast(F, run_async)

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        args, kwargs, trace_context = unwrapped(args, kwargs)
        with tracing.current(trace_context):
            return function(*args, **kwargs)

    return cast(F, run)
