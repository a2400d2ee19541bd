"""The same saga shape on DBOS Transact, checkpointing to a SQLite database: a persistent peer.

DBOS runs workflows inside the application's own process and records every step in its system
database, here a SQLite file in a temporary folder (no server, nothing over the network). The load
generator runs in the same process, as clients that start a saga and poll its status every 50 ms.

How OrderSaga's parts are expressed here:

- an activity with a retry policy -> an async `@DBOS.step` with `retries_allowed` (DBOS checkpoints
  its result, so a recovered workflow does not run it again);
- `task_all` over both steps, waiting for both even when one fails -> `asyncio.gather` with
  `return_exceptions=True` (DBOS numbers the steps in the order they are called, so a recovery
  replays them in the same order whichever finished first);
- the step deadline, a durable timer -> `DBOS.sleep_async`, whose wake-up time is checkpointed;
- `task_any` racing the steps against the deadline -> `DBOS.asyncio_wait(FIRST_COMPLETED)`, which
  checkpoints which of the two finished first, so a recovery takes the same branch;
- the instance id = the order id -> `SetWorkflowID`; the client's start and status query ->
  `DBOS.start_workflow_async` and `DBOS.get_workflow_status_async`.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

# DBOS reads DBOS__CLOUD when imported, and with it would take its database and a conductor to
# connect to from the environment: this peer uses only its own SQLite file.
os.environ.pop("DBOS__CLOUD", None)

from dbos import DBOS, DBOSConfig, SetWorkflowID, WorkflowStatusString
from sqlalchemy import event
from sqlalchemy.engine import Engine

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
from durable_saga import Retries

_LEDGER = MemoryLedger()
_TERMINAL = {
    WorkflowStatusString.SUCCESS.value,
    WorkflowStatusString.ERROR.value,
    WorkflowStatusString.CANCELLED.value,
    WorkflowStatusString.MAX_RECOVERY_ATTEMPTS_EXCEEDED.value,
}
_POLLING: ContextVar[bool] = ContextVar("polling", default=False)

NAME = "DBOS on SQLite"

P = ParamSpec("P")
R = TypeVar("R")


def _step(retries: Retries) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A DBOS step retried as OrderSaga retries: the same interval between attempts (backoff 1)."""
    return DBOS.step(
        retries_allowed=True,
        max_attempts=retries.attempts,
        interval_seconds=retries.interval.total_seconds(),
        backoff_rate=1.0,
    )


_FORWARD_STEP = _step(STEP_RETRIES)
_ROLLBACK_STEP = _step(ROLLBACK_RETRIES)


@_FORWARD_STEP
async def reserve(order: Order) -> Answer:
    return _LEDGER.reserve(order)


@_FORWARD_STEP
async def charge(order: Order) -> Answer:
    return _LEDGER.charge(order)


@_ROLLBACK_STEP
async def release(order: Order) -> Answer:
    return _LEDGER.release(order)


@_ROLLBACK_STEP
async def refund(order: Order) -> Answer:
    return _LEDGER.refund(order)


@DBOS.workflow()
async def saga(order: Order) -> str:
    """Run both steps in parallel; if either did not succeed by the deadline, roll both back."""
    steps = asyncio.gather(reserve(order), charge(order), return_exceptions=True)
    deadline = asyncio.ensure_future(DBOS.sleep_async(STEP_DEADLINE.total_seconds()))
    done, _ = await DBOS.asyncio_wait([steps, deadline], return_when=asyncio.FIRST_COMPLETED)
    # As in OrderSaga, answers after the deadline are ignored, and a decided saga leaves no timer.
    deadline.cancel()
    answers: list[Answer | BaseException] = steps.result() if steps in done else []
    if answers and all(_succeeded(answer) for answer in answers):
        return "completed"
    await asyncio.gather(release(order), refund(order), return_exceptions=True)
    return "compensated"


def _succeeded(answer: Answer | BaseException) -> bool:
    """A step that refused, or still raised after its retries, did not succeed."""
    return not isinstance(answer, BaseException) and answer["ok"]


async def _one_saga(index: int, poll: float) -> tuple[float, str]:
    started = order_for("dbos", index)
    began = time.perf_counter()
    with SetWorkflowID(started["orderId"]):
        handle = await DBOS.start_workflow_async(saga, started)
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < deadline:
        polling = _POLLING.set(True)
        try:
            status = await DBOS.get_workflow_status_async(handle.workflow_id)
        finally:
            _POLLING.reset(polling)
        if status is not None and status.status in _TERMINAL:
            outcome = status.output if isinstance(status.output, str) else status.status
            return time.perf_counter() - began, outcome
        await asyncio.sleep(poll)
    return time.perf_counter() - began, "timed out"


async def _load(sagas: int, concurrency: int, poll: float) -> list[tuple[float, str]]:
    gate = asyncio.Semaphore(concurrency)

    async def bounded(index: int) -> tuple[float, str]:
        async with gate:
            return await _one_saga(index, poll)

    return list(await asyncio.gather(*(bounded(i) for i in range(sagas))))


class _StatementCounter:
    """SQL statements sent to the system database (DBOS's storage requests), by part: the clients'
    status polls, told apart by a context variable that `asyncio.to_thread` carries into DBOS's
    worker threads, and the runtime's own (workflows, steps and DBOS's background threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = {"runtime": 0, "status polls": 0}

    def __call__(self, *_: Any) -> None:
        part = "status polls" if _POLLING.get() else "runtime"
        with self._lock:
            self.counts[part] += 1


def run_dbos(sagas: int, concurrency: int, poll: float) -> RunResult:
    """Start `sagas` sagas (every second one compensates) with at most `concurrency` in flight."""
    with tempfile.TemporaryDirectory(prefix="saga-bench-dbos-") as scratch:
        config: DBOSConfig = {
            "name": "saga-bench",
            "system_database_url": f"sqlite:///{Path(scratch) / 'dbos.sqlite'}",
            "log_level": "WARNING",
        }
        DBOS(config=config)
        DBOS.launch()
        counter = _StatementCounter()
        event.listen(Engine, "before_cursor_execute", counter)
        try:
            began, cpu_began = time.perf_counter(), time.process_time()
            results = asyncio.run(_load(sagas, concurrency, poll))
            elapsed = time.perf_counter() - began
            cpu = time.process_time() - cpu_began
        finally:
            event.remove(Engine, "before_cursor_execute", counter)
            DBOS.destroy()
    return RunResult(
        name=NAME,
        sagas=sagas,
        seconds=elapsed,
        latencies=[latency for latency, _ in results],
        outcomes=[outcome for _, outcome in results],
        storage_requests=counter.counts,
        storage_unit="SQLite statements",
        cpu_seconds={ONE_PROCESS: cpu},
    )
