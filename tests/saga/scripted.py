"""OrderSaga on durable_host's test kit, its four services scripted (see tests/scripted.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from durable_host.testing import DurableTestEnv
from tests.conftest import PROJECT_ROOT
from tests.scripted import (
    OK,
    START,
    Attempt,
    Hangs,
    Raises,
    Returns,
    SagaRun,
    needs_attention,
    rejected,
    run_until_decided,
    scripted_env,
    settled,
)

__all__ = [
    "FORWARD",
    "INSTANCE",
    "OK",
    "ORDER",
    "POLICY",
    "ROLLBACKS",
    "START",
    "Attempt",
    "Hangs",
    "Raises",
    "Returns",
    "SagaRun",
    "needs_attention",
    "rejected",
    "run_saga",
    "saga_env",
    "saga_input",
    "settled",
    "start_saga",
]

INSTANCE = "order-1"
ORDER = {
    "orderId": INSTANCE,
    "customerId": "alice",
    "lines": [{"sku": "apple", "quantity": 2, "unitPrice": "1.50"}],
    "amount": "3.00",
}
POLICY = {
    "stepRetryAttempts": 3,
    "stepRetryIntervalMs": 1000,
    "compensationRetryAttempts": 4,
    "compensationRetryIntervalMs": 2000,
    "stepDeadlineSeconds": 60,
}
FORWARD = ("OrderActivity", "PaymentActivity")
ROLLBACKS = ("RollbackOrderActivity", "RollbackPaymentActivity")


def saga_input(policy: Mapping[str, Any] | None = None, order: Any = None) -> dict[str, Any]:
    return {"order": ORDER if order is None else order, "policy": dict(POLICY) | dict(policy or {})}


@asynccontextmanager
async def saga_env(
    serve: bool = False, settings: Mapping[str, str] | None = None, **answers: Sequence[Attempt]
) -> AsyncIterator[DurableTestEnv]:
    """The app with its four activities scripted, on virtual time starting at START; with
    `serve`, its HTTP functions can reach the engine through the Durable client; `settings` are
    app settings on top of local.settings.json."""
    async with scripted_env(
        PROJECT_ROOT, FORWARD + ROLLBACKS, ORDER, answers, serve=serve, settings=settings
    ) as env:
        yield env


async def start_saga(env: DurableTestEnv, policy: Mapping[str, Any] | None = None) -> str:
    return await env.start("OrderSaga", saga_input(policy), INSTANCE)


async def run_saga(
    policy: Mapping[str, Any] | None = None,
    *,
    until_completed: bool = False,
    **answers: Sequence[Attempt],
) -> SagaRun:
    """Run one saga until it is decided (completed, waiting for an operator, or decided with a
    step still in flight), or with `until_completed` until the instance is Completed."""
    async with saga_env(**answers) as env:
        await start_saga(env, policy)
        return await run_until_decided(
            env, INSTANCE, FORWARD + ROLLBACKS, until_completed=until_completed
        )
