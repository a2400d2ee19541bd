"""What one OrderSaga writes to its task hub, per path: history events and their bytes.

`python -m bench.history_events` runs the app's own orchestrator on durable_host's test kit (the
in-memory task hub, virtual time), its four activities stood in for, once per path, and prints a
Markdown table: the events the task hub stores (as its History table holds them), the events the
status API shows (`showHistory=true`), and the stored events' JSON size. Each stand-in answers
after its own span of virtual time (the order step 1 s, the payment step 2 s, and so on), so no
two answers ever arrive in the same episode by chance: the counts are deterministic, they change
only when the saga's shape does, and two commits compare exactly. The traced paths start the saga
as the starter does while tracing is on (its input carries the request span's context), so each
activity's payload carries its attempt's: the same events, a little larger.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from durable_host.testing import DurableTestEnv

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = "order-1"
SAGA_INPUT = {
    "order": {
        "orderId": INSTANCE,
        "customerId": "alice",
        "lines": [{"sku": "apple", "quantity": 2, "unitPrice": "1.50"}],
        "amount": "3.00",
    },
    "policy": {
        "stepRetryAttempts": 3,
        "stepRetryIntervalMs": 1000,
        "compensationRetryAttempts": 4,
        "compensationRetryIntervalMs": 2000,
        "stepDeadlineSeconds": 60,
    },
}
OK = {"ok": True, "reason": None}
REFUSED = {"ok": False, "reason": "payment refused"}
# Virtual seconds each service takes: distinct, so that every answer is an episode of its own.
SERVICE_SECONDS = {
    "OrderActivity": 1,
    "PaymentActivity": 2,
    "RollbackOrderActivity": 3,
    "RollbackPaymentActivity": 4,
}

# How a service answers its nth call (from 1): a document, or an exception to raise.
Answers = Callable[[int], Any]


def ok(_: int) -> Any:
    return OK


def refused(_: int) -> Any:
    return REFUSED


def unavailable(_: int) -> Any:
    return ConnectionError("service unavailable")


def failing_once(call: int) -> Any:
    return ConnectionError("service unavailable") if call == 1 else OK


PATHS: Mapping[str, Mapping[str, Answers]] = {
    "completed": {},
    "compensated (payment refused)": {"PaymentActivity": refused},
    "compensated (payment failing every attempt)": {"PaymentActivity": unavailable},
    "compensated (payment refused, the order's rollback failing once)": {
        "PaymentActivity": refused,
        "RollbackOrderActivity": failing_once,
    },
}
# Run again with a traced input (the request span's context, as durable_saga.starting writes it).
TRACED = ("completed", "compensated (payment refused)")
TRACE_CONTEXT = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}


def _services(
    answers: Mapping[str, Answers], env: Callable[[], DurableTestEnv]
) -> dict[str, Callable[[Any], Awaitable[Any]]]:
    def service(name: str) -> Callable[[Any], Awaitable[Any]]:
        answer = answers.get(name, ok)

        async def run(_: Any) -> Any:
            calls = len(env().calls(name))  # this call is recorded already
            await env().sleep(timedelta(seconds=SERVICE_SECONDS[name]))
            result = answer(calls)
            if isinstance(result, Exception):
                raise result
            return result

        return run

    return {name: service(name) for name in SERVICE_SECONDS}


async def measure(answers: Mapping[str, Answers], traced: bool = False) -> tuple[int, int, int]:
    """(stored events, status API events, stored JSON bytes) of one saga run to completion."""
    running: list[DurableTestEnv] = []
    saga_input = {**SAGA_INPUT, "traceContext": TRACE_CONTEXT} if traced else SAGA_INPUT
    async with DurableTestEnv(ROOT, activities=_services(answers, lambda: running[0])) as env:
        running.append(env)
        await env.start("OrderSaga", saga_input, instance_id=INSTANCE)
        await env.wait_for(INSTANCE, "Completed")
        stored = await env.engine.get_history(INSTANCE)
        shown = await env.history(INSTANCE)
    return len(stored), len(shown), len(json.dumps(stored))


async def table() -> str:
    rows = [
        "| path | stored history events | status API history events | stored bytes |",
        "|---|---:|---:|---:|",
    ]
    for path, answers in PATHS.items():
        stored, shown, size = await measure(answers)
        rows.append(f"| {path} | {stored} | {shown} | {size} |")
    for path in TRACED:
        stored, shown, size = await measure(PATHS[path], traced=True)
        rows.append(f"| {path}, traced | {stored} | {shown} | {size} |")
    return "\n".join(rows)


def main() -> None:
    print(asyncio.run(table()))


if __name__ == "__main__":
    main()
