"""OrderSaga at every failure point (durable_saga.testing): each step refused, failing every
attempt or outlasting its deadline, each rollback failing until an operator retries or resolves
it; every run keeps the toolkit's invariants, replayed by the real SDK on virtual time."""

from __future__ import annotations

from durable_saga.testing import explore
from saga.workflow import ORDER_SAGA
from tests.conftest import PROJECT_ROOT
from tests.saga.scripted import INSTANCE, saga_input


async def test_the_order_saga_keeps_every_invariant_at_every_failure_point() -> None:
    explored = await explore(ORDER_SAGA, PROJECT_ROOT, saga_input(), instance_id=INSTANCE)

    assert {str(e.point): e.outcome for e in explored} == {
        "every step succeeds": "completed",
        "order refused": "compensated",
        "order failing every attempt": "compensated",
        "order outlasting its deadline": "compensated",
        "payment refused": "compensated",
        "payment failing every attempt": "compensated",
        "payment outlasting its deadline": "compensated",
        "order's compensation failing, then retried by an operator": "compensated",
        "order's compensation failing, then resolved by an operator": "resolved_manually",
        "payment's compensation failing, then retried by an operator": "compensated",
        "payment's compensation failing, then resolved by an operator": "resolved_manually",
    }
    # The order saga fences refusals: a refused payment's rollback runs too.
    refused = next(e for e in explored if str(e.point) == "payment refused")
    assert sorted(c.activity for c in refused.run.calls if c.compensates) == [
        "RollbackOrderActivity",
        "RollbackPaymentActivity",
    ]
