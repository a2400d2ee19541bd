"""The same saga shape on durabletask-python's in-memory test backend: the peer we compare against.

Two steps in parallel with retries and a deadline timer, then both rollbacks when either step did
not succeed by the deadline. The ledgers are dictionaries behind a lock: the peer does no storage
I/O at all, so it is the fastest a Python orchestration runtime goes here, not a like-for-like
durability test.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# gRPC's core prints a line at every shutdown unless told to keep to errors.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from durabletask import client, task, worker
from durabletask.testing import create_test_backend

from bench.ledger import (
    ROLLBACK_RETRIES,
    STEP_DEADLINE,
    STEP_RETRIES,
    Answer,
    MemoryLedger,
    Order,
    order_for,
)
from bench.load import GIVE_UP_SECONDS
from bench.stats import ONE_PROCESS, RunResult
from durable_host.azurite import free_port
from durable_saga import Retries

NAME = "durabletask in-memory"
_LEDGER = MemoryLedger()
_TERMINAL = {
    client.OrchestrationStatus.COMPLETED,
    client.OrchestrationStatus.FAILED,
    client.OrchestrationStatus.TERMINATED,
}


def _retry_policy(retries: Retries) -> task.RetryPolicy:
    return task.RetryPolicy(
        first_retry_interval=retries.interval, max_number_of_attempts=retries.attempts
    )


_STEP_RETRY = _retry_policy(STEP_RETRIES)
_ROLLBACK_RETRY = _retry_policy(ROLLBACK_RETRIES)


def reserve(ctx: task.ActivityContext, order: Order) -> Answer:
    return _LEDGER.reserve(order)


def charge(ctx: task.ActivityContext, order: Order) -> Answer:
    return _LEDGER.charge(order)


def release(ctx: task.ActivityContext, order: Order) -> Answer:
    return _LEDGER.release(order)


def refund(ctx: task.ActivityContext, order: Order) -> Answer:
    return _LEDGER.refund(order)


def saga(ctx: task.OrchestrationContext, order: Order) -> Generator[Any, Any, str]:
    steps: list[task.Task[Answer]] = [
        ctx.call_activity(reserve, input=order, retry_policy=_STEP_RETRY),
        ctx.call_activity(charge, input=order, retry_policy=_STEP_RETRY),
    ]
    deadline = ctx.create_timer(STEP_DEADLINE)
    settled = yield task.when_any([task.when_all(steps), deadline])
    if settled is deadline or not all(step.get_result()["ok"] for step in steps):
        yield task.when_all(
            [
                ctx.call_activity(release, input=order, retry_policy=_ROLLBACK_RETRY),
                ctx.call_activity(refund, input=order, retry_policy=_ROLLBACK_RETRY),
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

    def one(index: int) -> tuple[float, str]:
        began = time.perf_counter()
        started = order_for("durabletask", index)
        instance = hub.schedule_new_orchestration(
            saga, input=started, instance_id=started["orderId"]
        )
        # Poll like the HTTP benchmark does: the backend's blocking wait holds one of its ten server
        # threads per waiter and starves its own workers under higher concurrency.
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while time.monotonic() < deadline:
            state = hub.get_orchestration_state(instance)
            if state is not None and state.runtime_status in _TERMINAL:
                outcome = json.loads(state.serialized_output or "null") or "missing"
                return time.perf_counter() - began, outcome
            time.sleep(poll)
        return time.perf_counter() - began, "timed out"

    try:
        began, cpu_began = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(one, range(sagas)))
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - cpu_began
    finally:
        runner.stop()
        backend.stop()
    return RunResult(
        name=NAME,
        sagas=sagas,
        seconds=elapsed,
        latencies=[latency for latency, _ in results],
        outcomes=[outcome for _, outcome in results],
        storage_requests=None,
        cpu_seconds={ONE_PROCESS: cpu},
    )
