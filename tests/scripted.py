"""A saga on durable_host's test kit with its services scripted.

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
from pathlib import Path
from typing import Any

from durable_host.history import EventType
from durable_host.testing import DurableTestEnv, InstanceStatus
from durable_saga import saga_activity

START = datetime(2026, 1, 1, tzinfo=UTC)


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
    """Answers per activity; activities not named answer ok at once. Every activity must
    receive `payload`. `env`, the env the fakes run in, is set once it exists."""

    def __init__(
        self,
        activities: Sequence[str],
        payload: Any,
        answers: Mapping[str, Sequence[Attempt]],
    ) -> None:
        unknown = set(answers) - set(activities)
        assert not unknown, f"no such activities in the saga: {sorted(unknown)}"
        self.answers = {name: list(answers.get(name, [OK])) for name in activities}
        self.payload = payload
        self.env: DurableTestEnv | None = None

    def fakes(self) -> dict[str, Any]:
        # Each wears the toolkit's adapter, as the app's activities do: it gets the payload alone.
        return {name: saga_activity(self._fake(name)) for name in self.answers}

    def _fake(self, name: str) -> Any:
        async def answer(received: Any) -> Any:
            assert received == self.payload, f"{name} got {received!r}"
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


@asynccontextmanager
async def scripted_env(
    app_dir: Path,
    activities: Sequence[str],
    payload: Any,
    answers: Mapping[str, Sequence[Attempt]],
    *,
    serve: bool = False,
    settings: Mapping[str, str] | None = None,
) -> AsyncIterator[DurableTestEnv]:
    """The app with `activities` scripted, on virtual time starting at START; with `serve`, its
    HTTP functions can reach the engine through the Durable client; `settings` are app settings
    on top of local.settings.json."""
    script = Script(activities, payload, answers)
    async with DurableTestEnv(
        app_dir, activities=script.fakes(), settings=settings, start_time=START, serve=serve
    ) as env:
        script.env = env
        yield env


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


async def run_until_decided(
    env: DurableTestEnv, instance: str, activities: Sequence[str], *, until_completed: bool = False
) -> SagaRun:
    """Wait until the started saga is decided (completed, waiting for an operator, or decided
    with a step still in flight), or with `until_completed` until the instance is Completed,
    and return what it did."""
    if until_completed:
        final = await env.wait_for(instance, "Completed")
    else:
        final = await env.wait_for(instance, "Completed", "Failed", "Running", until=settled)
    return SagaRun(
        final=final,
        statuses=env.statuses(instance),
        calls={name: [call.at for call in env.calls(name)] for name in activities},
        events=await env.engine.get_history(instance),
        open_work=env.engine.open_work(instance),
    )


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

    def checkpoints(self, *fields: str) -> list[tuple[Any, ...]]:
        """Those fields of the custom status at each checkpoint, a repeat shown once."""
        seen: list[tuple[Any, ...]] = []
        for status in self.statuses:
            progress = status.custom_status or {}
            values = tuple(progress.get(field) for field in fields)
            if progress and (not seen or seen[-1] != values):
                seen.append(values)
        return seen
