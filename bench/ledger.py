"""What the peers share: dictionary ledgers, the order they take, the app's retries and deadline.

The peers run the saga's shape (two steps in parallel with retries and a deadline, then both
rollbacks when either step did not succeed) on other runtimes. Their ledgers are dictionaries
behind a lock, so the steps do a little real work and no storage I/O of their own: whatever a peer
writes to storage is its runtime's checkpoints.
"""

from __future__ import annotations

import threading
from typing import TypedDict

from saga.workflow import ORDER_SAGA, ORDER_STEP


class Order(TypedDict):
    orderId: str
    refusePayment: bool


class Answer(TypedDict):
    ok: bool


# The app's defaults, so every runtime retries and waits as OrderSaga does (both of its steps
# run under the same policy).
PLAN = ORDER_SAGA.plan(ORDER_SAGA.policy)[ORDER_STEP.name]
STEP_RETRIES = PLAN.retries
ROLLBACK_RETRIES = PLAN.compensation_retries
STEP_DEADLINE = PLAN.deadline


def order_for(prefix: str, index: int) -> Order:
    """The saga's input: every second order is refused payment, and compensates."""
    return {"orderId": f"{prefix}-{index}", "refusePayment": index % 2 == 1}


class MemoryLedger:
    """A record per order and step, with the idempotency and fencing rules of the app's ledgers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reserved: dict[str, str] = {}
        self.charged: dict[str, str] = {}

    def reserve(self, order: Order) -> Answer:
        return self._forward(self.reserved, order["orderId"], refuse=False)

    def charge(self, order: Order) -> Answer:
        return self._forward(self.charged, order["orderId"], refuse=order["refusePayment"])

    def release(self, order: Order) -> Answer:
        return self._rollback(self.reserved, order["orderId"])

    def refund(self, order: Order) -> Answer:
        return self._rollback(self.charged, order["orderId"])

    def _forward(self, records: dict[str, str], order_id: str, refuse: bool) -> Answer:
        """Applied once per order: a retry or a duplicate gets the first answer again."""
        with self._lock:
            if order_id in records:
                return {"ok": records[order_id] == "done"}
            records[order_id] = "refused" if refuse else "done"
            return {"ok": not refuse}

    def _rollback(self, records: dict[str, str], order_id: str) -> Answer:
        """Leaves a fence when the forward step never ran, so a late one is refused."""
        with self._lock:
            records[order_id] = "rolled_back"
            return {"ok": True}
