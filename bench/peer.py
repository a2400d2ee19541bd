"""The same saga shape on durabletask-python's in-memory test backend: the peer we compare against.

Two steps in parallel with retries and a deadline timer, then both rollbacks when either step was
refused. The ledgers are dictionaries behind a lock: the peer does no storage I/O at all, so it is
the fastest a Python orchestration runtime goes here, not a like-for-like durability test.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

# gRPC's core prints a line at every shutdown unless told to keep to errors.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from durabletask import client, task, worker
from durabletask.testing import create_test_backend

from bench.stats import RunResult
from durable_host.azurite import free_port


class _MemoryLedger:
    """Stock and wallet with idempotency records, enough to make the activities do real work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stock = 10**9
        self.balance = 10**9
        self.reserved: dict[str, str] = {}
        self.charged: dict[str, str] = {}

    def forward(self, records: dict[str, str], order_id: str, refuse: bool) -> dict[str, Any]:
        with self._lock:
            if order_id in records:
                return {"ok": records[order_id] == "done"}
            records[order_id] = "refused" if refuse else "done"
            return {"ok": not refuse}

    def rollback(self, records: dict[str, str], order_id: str) -> dict[str, Any]:
        with self._lock:
            records[order_id] = "rolled_back"
            return {"ok": True}


_LEDGER = _MemoryLedger()
_TERMINAL = {
    client.OrchestrationStatus.COMPLETED,
    client.OrchestrationStatus.FAILED,
    client.OrchestrationStatus.TERMINATED,
}
_RETRY = task.RetryPolicy(first_retry_interval=timedelta(seconds=1), max_number_of_attempts=3)


def reserve(ctx: task.ActivityContext, order: dict[str, Any]) -> dict[str, Any]:
    return _LEDGER.forward(_LEDGER.reserved, order["orderId"], refuse=False)


def charge(ctx: task.ActivityContext, order: dict[str, Any]) -> dict[str, Any]:
    return _LEDGER.forward(_LEDGER.charged, order["orderId"], refuse=order["refusePayment"])


def release(ctx: task.ActivityContext, order: dict[str, Any]) -> dict[str, Any]:
    return _LEDGER.rollback(_LEDGER.reserved, order["orderId"])


def refund(ctx: task.ActivityContext, order: dict[str, Any]) -> dict[str, Any]:
    return _LEDGER.rollback(_LEDGER.charged, order["orderId"])


def saga(ctx: task.OrchestrationContext, order: dict[str, Any]) -> Generator[Any, Any, str]:
    steps = [
        ctx.call_activity(reserve, input=order, retry_policy=_RETRY),
        ctx.call_activity(charge, input=order, retry_policy=_RETRY),
    ]
    deadline = ctx.create_timer(timedelta(seconds=60))
    settled = yield task.when_any([task.when_all(steps), deadline])
    if settled is deadline or not all(step.get_result()["ok"] for step in steps):
        yield task.when_all(
            [
                ctx.call_activity(release, input=order, retry_policy=_RETRY),
                ctx.call_activity(refund, input=order, retry_policy=_RETRY),
            ]
        )
        return "compensated"
    return "completed"


def run_peer(sagas: int, concurrency: int, poll: float) -> RunResult:
    """Start `sagas` sagas (every second one compensates) with at most `concurrency` in flight."""
    quiet = logging.getLogger("bench.peer")
    quiet.setLevel(logging.ERROR)  # its stop logs a cancelled stream as a warning
    port = free_port()
    backend = create_test_backend(port=port)
    address = f"localhost:{port}"
    runner = worker.TaskHubGrpcWorker(host_address=address, logger=quiet)
    runner.add_orchestrator(saga)
    for activity in (reserve, charge, release, refund):
        runner.add_activity(activity)
    runner.start()
    hub = client.TaskHubGrpcClient(host_address=address, logger=quiet)
    outcomes: list[str] = []
    latencies: list[float] = []

    def one(index: int) -> None:
        began = time.perf_counter()
        order = {"orderId": f"peer-{index}", "refusePayment": index % 2 == 1}
        instance = hub.schedule_new_orchestration(saga, input=order, instance_id=order["orderId"])
        # Poll like the HTTP benchmark does: the backend's blocking wait holds one of its ten server
        # threads per waiter and starves its own workers under higher concurrency.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            state = hub.get_orchestration_state(instance)
            if state is not None and state.runtime_status in _TERMINAL:
                latencies.append(time.perf_counter() - began)
                outcomes.append(json.loads(state.serialized_output or "null") or "missing")
                return
            time.sleep(poll)
        outcomes.append("timed out")

    try:
        began, cpu_began = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, range(sagas)))
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - cpu_began
    finally:
        runner.stop()
        backend.stop()
    return RunResult(
        name="durabletask in-memory",
        sagas=sagas,
        seconds=elapsed,
        latencies=latencies,
        outcomes=outcomes,
        storage_requests=None,
        cpu_seconds={"runtime and load generator, one process": cpu},
    )
