"""What one OrderSaga writes to its task hub, per path: history events and their bytes.

`python -m bench.history_events` runs the app's own orchestrator on durable_host's test kit (the
in-memory task hub, virtual time), its four activities stood in for, once per path, and prints a
Markdown table: the events the task hub stores (as its History table holds them), the events the
status API shows (`showHistory=true`), and the stored events' JSON size. The counts are
deterministic: they change only when the saga's shape does, so two commits compare exactly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
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


def _unavailable(_: Any) -> Any:
    raise ConnectionError("payment service unavailable")


def _fakes(payment: Callable[[Any], Any]) -> dict[str, Callable[[Any], Any]]:
    return {
        "OrderActivity": lambda _: OK,
        "PaymentActivity": payment,
        "RollbackOrderActivity": lambda _: OK,
        "RollbackPaymentActivity": lambda _: OK,
    }


PATHS: Mapping[str, dict[str, Callable[[Any], Any]]] = {
    "completed": _fakes(lambda _: OK),
    "compensated (payment refused)": _fakes(lambda _: REFUSED),
    "compensated (payment failing every attempt)": _fakes(_unavailable),
}


async def measure(activities: dict[str, Callable[[Any], Any]]) -> tuple[int, int, int]:
    """(stored events, status API events, stored JSON bytes) of one saga run to completion."""
    async with DurableTestEnv(ROOT, activities=activities) as env:
        await env.start("OrderSaga", SAGA_INPUT, instance_id=INSTANCE)
        await env.wait_for(INSTANCE, "Completed")
        stored = await env.engine.get_history(INSTANCE)
        shown = await env.history(INSTANCE)
    return len(stored), len(shown), len(json.dumps(stored))


async def table() -> str:
    rows = [
        "| path | stored history events | status API history events | stored bytes |",
        "|---|---:|---:|---:|",
    ]
    for path, activities in PATHS.items():
        stored, shown, size = await measure(activities)
        rows.append(f"| {path} | {stored} | {shown} | {size} |")
    return "\n".join(rows)


def main() -> None:
    print(asyncio.run(table()))


if __name__ == "__main__":
    main()
