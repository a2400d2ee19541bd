"""OrderSaga on durable_host's test kit, its four services scripted.

Each activity answers from a script: return a value, raise a transient error, or never answer,
each after a given number of virtual seconds (a slow service, on the kit's virtual clock). The
last answer of a script repeats. The orchestrator is the app's own, replayed by the real SDK on
the engine that numbers its actions as the Functions host does, so a shape the host would replay
differently fails the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from durable_host.history import EventType
from durable_host.testing import DurableTestEnv, InstanceStatus
from tests.conftest import PROJECT_ROOT

START = datetime(2026, 1, 1, tzinfo=UTC)
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


@dataclass(frozen=True)
class Returns:
    value: Any
    after: float = 0.0


@dataclass(frozen=True)
class Raises:
    message: str
    after: float = 0.0


@dataclass(frozen=True)
class Hangs:
    """Never answers, like a call to a service that hangs."""


Attempt = Returns | Raises | Hangs

OK = Returns({"ok": True, "reason": None})


def rejected(reason: str, after: float = 0.0) -> Returns:
    return Returns({"ok": False, "reason": reason}, after)


class ServiceError(RuntimeError):
    """A transient failure of a scripted service."""


class Script:
    """Answers per activity; activities not named answer ok at once. `env`, the env the fakes
    run in, is set once it exists."""

    def __init__(self, answers: Mapping[str, Sequence[Attempt]]) -> None:
        self.answers = {name: list(answers.get(name, [OK])) for name in FORWARD + ROLLBACKS}
        self.env: DurableTestEnv | None = None

    def fakes(self) -> dict[str, Any]:
        return {name: self._fake(name) for name in self.answers}

    def _fake(self, name: str) -> Any:
        async def answer(order: Any) -> Any:
            assert order == ORDER, f"{name} got {order!r}"
            assert self.env is not None
            script = self.answers[name]
            # The kit records each call as it starts: this one is the last recorded.
            attempt = script[min(len(self.env.calls(name)), len(script)) - 1]
            if isinstance(attempt, Hangs):
                await self.env.sleep(timedelta(days=3650))
                raise AssertionError("a hanging service answered")
            if attempt.after:
                await self.env.sleep(timedelta(seconds=attempt.after))
            if isinstance(attempt, Raises):
                raise ServiceError(attempt.message)
            return attempt.value

        return answer


def saga_input(policy: Mapping[str, Any] | None = None, order: Any = None) -> dict[str, Any]:
    return {"order": ORDER if order is None else order, "policy": dict(POLICY) | dict(policy or {})}


@asynccontextmanager
async def saga_env(
    serve: bool = False, settings: Mapping[str, str] | None = None, **answers: Sequence[Attempt]
) -> AsyncIterator[DurableTestEnv]:
    """The app with its four activities scripted, on virtual time starting at START; with
    `serve`, its HTTP functions can reach the engine through the Durable client; `settings` are
    app settings on top of local.settings.json."""
    script = Script(answers)
    async with DurableTestEnv(
        PROJECT_ROOT, activities=script.fakes(), settings=settings, start_time=START, serve=serve
    ) as env:
        script.env = env
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
        if until_completed:
            final = await env.wait_for(INSTANCE, "Completed")
        else:
            final = await env.wait_for(INSTANCE, "Completed", "Failed", "Running", until=settled)
        return SagaRun(
            final=final,
            statuses=env.statuses(INSTANCE),
            calls={name: [call.at for call in env.calls(name)] for name in FORWARD + ROLLBACKS},
            events=await env.engine.get_history(INSTANCE),
            open_work=env.engine.open_work(INSTANCE),
        )


def needs_attention(operator_retries: int) -> Callable[[InstanceStatus], bool]:
    """Whether a saga waits for an operator after that many operator retries."""

    def waiting(status: InstanceStatus) -> bool:
        progress = status.custom_status or {}
        attention = progress.get("attention") or {}
        return bool(
            progress.get("stage") == "needs_attention"
            and attention.get("operatorRetries") == operator_retries
        )

    return waiting


def settled(status: InstanceStatus) -> bool:
    """Finished, waiting for an operator, or decided with a step still in flight."""
    if status.runtime_status != "Running":
        return True
    progress = status.custom_status or {}
    return progress.get("stage") in ("needs_attention", "finished")


@dataclass(frozen=True)
class SagaRun:
    final: InstanceStatus
    statuses: list[InstanceStatus]
    calls: dict[str, list[datetime]]
    events: list[dict[str, Any]]
    open_work: list[str]

    @property
    def output(self) -> dict[str, Any]:
        assert isinstance(self.final.output, dict), self.final
        return self.final.output

    @property
    def progress(self) -> dict[str, Any]:
        assert isinstance(self.final.custom_status, dict), self.final
        return self.final.custom_status

    def step(self, name: str) -> dict[str, Any]:
        steps: dict[str, dict[str, Any]] = self.progress["steps"]
        return steps[name]

    def seconds(self, activity: str) -> list[float]:
        """When each attempt of an activity started, in seconds from the saga's start."""
        return [(at - START).total_seconds() for at in self.calls[activity]]

    def scheduled(self) -> list[tuple[int, str]]:
        """(sequence id, what) for every task the saga scheduled, as the host numbered them."""
        shown = []
        for event in self.events:
            kind = event["EventType"]
            if kind == EventType.TaskScheduled:
                shown.append((event["EventId"], str(event["Name"])))
            elif kind == EventType.TimerCreated:
                shown.append((event["EventId"], f"timer {event['FireAt'][11:19]}"))
        return shown
