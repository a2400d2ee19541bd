"""OrderSaga: reserve the stock and charge the wallet together, or undo both.

The order saga, declared on durable_saga: one stage of two steps that run in parallel, the order
step (OrderActivity, undone by RollbackOrderActivity) and the payment step (PaymentActivity,
undone by RollbackPaymentActivity). If either did not succeed, both rollbacks run, the one of a
refused step too: the ledgers record a rollback of a step that never took effect as a fence, so
that a late or repeated forward attempt is refused. Every activity receives the priced order; the
retry and deadline policy travels in the input, fixed from the app's settings when the saga
started. The toolkit runs it (durable_saga.orchestrator) and waits as the host requires
(durable_saga.waiting).
"""

from __future__ import annotations

from durable_saga import Saga, Stage, Step, orchestrator
from durable_saga.documents import Ending
from saga.models import SagaInput, SagaResult, SagaSteps

ORDER_STEP = Step("order", "OrderActivity", "RollbackOrderActivity")
PAYMENT_STEP = Step("payment", "PaymentActivity", "RollbackPaymentActivity")


def order_result(saga: SagaInput, ending: Ending) -> SagaResult:
    """The saga's output: `{orderId, outcome, amount, steps, operatorRetries, resolution}`."""
    return SagaResult(
        orderId=saga.order.orderId,
        outcome=ending.outcome,
        amount=saga.order.amount,
        steps=SagaSteps.model_validate(ending.steps),
        operatorRetries=ending.operatorRetries,
        resolution=ending.resolution,
    )


ORDER_SAGA = Saga(
    # The orchestrator's function name: the order API starts it, and lists and reads only its
    # instances.
    "OrderSaga",
    Stage("order", ORDER_STEP, PAYMENT_STEP),
    input=SagaInput,
    payload="order",
    fence_refused=True,
    result=order_result,
)
ORCHESTRATOR = ORDER_SAGA.name

orchestrator_function = orchestrator(ORDER_SAGA)
