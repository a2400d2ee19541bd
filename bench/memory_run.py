"""OrderSaga on durable_host with the in-memory task hub: the runtime alone, against its peer.

The app's own orchestrator runs on durable_host's engine with the task hub in memory and the
system clock; its four activities are the peers' dictionary ledgers (bench.ledger), and nothing
touches Azurite. Clients start each saga and poll its status over durable_host's Durable HTTP API on
loopback, as the peer's clients use its gRPC API; everything runs in this one process, whose CPU
time is the figure.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from bench.ledger import MemoryLedger, Order, order_for
from bench.load import NotStarted, run_load
from bench.stats import ONE_PROCESS, RunResult
from durable_host.testing import DurableTestEnv
from saga.models import PricedLine, PricedOrder, SagaInput

ROOT = Path(__file__).resolve().parent.parent
NAME = "durable_host in-memory"
HUB = "BenchMemory"
_LEDGER = MemoryLedger()


def _order(priced: dict[str, Any]) -> Order:
    """The ledgers' view of a priced order: broke customers are refused payment."""
    return {"orderId": priced["orderId"], "refusePayment": priced["customerId"] == "broke"}


ACTIVITIES = {
    "OrderActivity": lambda order: _LEDGER.reserve(_order(order)),
    "PaymentActivity": lambda order: _LEDGER.charge(_order(order)),
    "RollbackOrderActivity": lambda order: _LEDGER.release(_order(order)),
    "RollbackPaymentActivity": lambda order: _LEDGER.refund(_order(order)),
}


def saga_input(order: Order) -> str:
    """The saga's input for `order` as the Python client sends it: JSON text, as JSON."""
    priced = PricedOrder(
        orderId=order["orderId"],
        customerId="broke" if order["refusePayment"] else "rich",
        lines=[PricedLine(sku="SKU-1", quantity=1, unitPrice=Decimal("1.00"))],
        amount=Decimal("1.00"),
    )
    return json.dumps(SagaInput(order=priced).model_dump_json())


async def _start(api: str, http: aiohttp.ClientSession, index: int) -> str:
    """Start a saga through durable_host's Durable HTTP API, as the Python client does."""
    order = order_for("memory", index)
    instance = order["orderId"]
    async with http.post(
        f"{api}/orchestrators/OrderSaga/{instance}",
        data=saga_input(order),
        headers={"Content-Type": "application/json"},
    ) as response:
        if response.status != 202:
            raise NotStarted(f"start answered {response.status}")
    return instance


async def _run(sagas: int, concurrency: int, poll: float) -> RunResult:
    logging.getLogger("durable_host").setLevel(logging.ERROR)
    async with DurableTestEnv(
        ROOT,
        activities=ACTIVITIES,
        hub_name=HUB,
        virtual_time=False,
        serve=True,
        check_determinism=False,
    ) as env:
        api = f"{env.base_url}/runtime/webhooks/durabletask"
        cpu_began = time.process_time()
        elapsed, results = await run_load(
            env.base_url, sagas, concurrency, poll, functools.partial(_start, api)
        )
        cpu = time.process_time() - cpu_began
    return RunResult(
        name=NAME,
        sagas=sagas,
        seconds=elapsed,
        latencies=[latency for latency, _, _ in results],
        outcomes=[outcome for _, outcome, _ in results],
        ended=[ended for _, _, ended in results],
        storage_requests=None,
        cpu_seconds={ONE_PROCESS: cpu},
    )


def run_memory(sagas: int, concurrency: int, poll: float) -> RunResult:
    return asyncio.run(_run(sagas, concurrency, poll))
