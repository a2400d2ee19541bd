"""Test your Durable Functions app in-process: in-memory task hub, virtual time, fake activities.

    from durable_host.testing import DurableTestEnv

    async def test_order_saga_compensates_a_refused_payment() -> None:
        async with DurableTestEnv("path/to/app", activities={"PaymentActivity": refuse}) as env:
            instance = await env.start("OrderSaga", saga_input)
            status = await env.wait_for(instance, "Completed")
            assert status.output["outcome"] == "compensated"

`DurableTestEnv` loads the app folder (v1 or v2 programming model, as `func start` would) into
this process and runs it on durable_host's engine: the real Durable SDK replays the orchestrator,
the real `azure.functions` converters bind every function, and the history has the real host's
shape. By default the task hub is in memory and time is virtual: whenever no episode, activity or
HTTP function runs, the clock jumps to the next due timer, so a 60-second deadline or a six-hour
timer takes milliseconds; while one runs, each timer fires once its own wait has passed on the wall
clock, so an unrelated slow activity holds no timer up, and a deadline racing an activity wins or
loses by that activity's real duration (see VirtualClock for the exact rule).

Every episode is also checked for replay determinism: replaying the history of the previous
episode, the orchestrator must return the actions it returned then; the first difference fails
the instance and the test.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from multidict import CIMultiDict
from yarl import URL

from durable_host import bindings
from durable_host.app import FunctionApp, activity_error
from durable_host.clock import VirtualClock
from durable_host.contracts import FunctionInvocationError, FunctionKind
from durable_host.engine import Engine
from durable_host.history import TERMINAL_STATUSES, EventType
from durable_host.host import IF_CLIENTS, MEMORY_STORAGE, LocalHost
from durable_host.management import parse_json_text, public_history
from durable_host.server import call_http_function
from durable_host.store import InstanceRecord, TaskHubStore

__all__ = [
    "ActivityCall",
    "DurableTestEnv",
    "HttpResponse",
    "InstanceStatus",
    "NonDeterminismError",
    "WaitTimeout",
]

FINISHED = tuple(status.name for status in TERMINAL_STATUSES)
STARTED = int(EventType.ExecutionStarted)
DEFAULT_HUB = "TestHub"
# How long `wait_for` waits, in real seconds: on virtual time an orchestration that is not stuck
# finishes far sooner, so a stuck one fails fast.
DEFAULT_WAIT = 10.0


class NonDeterminismError(AssertionError):
    """An orchestrator returned a different state on the same history."""


class WaitTimeout(AssertionError):
    """`wait_for` gave up; the message says where the instance stands and what it waits on."""


@dataclass(frozen=True)
class InstanceStatus:
    """An instance's status as the Durable status API reports it, values parsed from JSON."""

    instance_id: str
    name: str
    runtime_status: str
    input: Any
    output: Any
    custom_status: Any
    created_time: datetime
    last_updated_time: datetime

    @classmethod
    def of(cls, record: InstanceRecord) -> InstanceStatus:
        return cls(
            instance_id=record.instance_id,
            name=record.name,
            runtime_status=record.runtime_status.name,
            input=parse_json_text(record.input),
            output=parse_json_text(record.output),
            custom_status=parse_json_text(record.custom_status),
            created_time=record.created_time,
            last_updated_time=record.last_updated_time,
        )


@dataclass
class ActivityCall:
    """One activity invocation, recorded when it starts: its input as the activity received it,
    when (on the env's clock), and how it ended ("running" until it does; an invocation cut
    short by `restart` stays "running")."""

    name: str
    input: Any
    at: datetime
    outcome: str = "running"
    error: str | None = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


Activity = Callable[[Any], Any]


class _TestInvoker:
    """The loaded app as the engine sees it, with activities replaced by name, every invocation
    recorded, and every episode's actions checked against the previous episode's."""

    def __init__(self, env: DurableTestEnv, app: FunctionApp) -> None:
        """Refuses a replacement for an activity the app does not have; the host is built around
        this invoker, so nothing has started yet."""
        for name in env._replaced:
            if app.kind_of(name) is not FunctionKind.ACTIVITY:
                activities = app.functions.values()
                known = [s.durable_name for s in activities if s.kind is FunctionKind.ACTIVITY]
                raise ValueError(
                    f"cannot replace activity {name!r}: {env.app_dir} has no activity of that "
                    f"name (activities: {', '.join(sorted(known))})"
                )
        self.env = env
        self.app = app
        self._actions: dict[tuple[str, str], list[Any]] = {}

    def kind_of(self, name: str) -> FunctionKind | None:
        return self.app.kind_of(name)

    def call_orchestrator(self, name: str, context_json: str) -> str:
        state = self.app.call_orchestrator(name, context_json)
        if self.env.check_determinism:
            self._check_replay(name, json.loads(context_json), json.loads(state))
        return state

    def _check_replay(self, name: str, context: dict[str, Any], state: dict[str, Any]) -> None:
        """Each call replays the whole history, the previous episode's included: for that part
        the orchestrator must return the same actions as it did then (a timer it has cancelled
        since may say so). The first difference fails the instance and the test."""
        started = next(e for e in context["history"] if e["EventType"] == STARTED)
        key = (str(context["instanceId"]), str(started["OrchestrationInstance"]["ExecutionId"]))
        actions = [action for group in state.get("actions") or [] for action in group or []]
        before, self._actions[key] = self._actions.get(key), actions
        if before is None:
            return
        difference = _replay_difference(before, actions)
        if difference is None:
            return
        message = (
            f"Orchestrator '{name}' (instance {key[0]!r}) is not deterministic: replaying the "
            f"history of its last episode it returned {difference}. Orchestrators must not read "
            "the clock, random numbers, settings or anything else outside their context."
        )
        self.env.failures.append(message)
        raise FunctionInvocationError(message)

    async def run_activity(self, name: str, input_text: str) -> str:
        replacement = self.env._replaced.get(name.lower())
        value = bindings.activity_input(input_text)
        call = ActivityCall(name, value, self.env.now)
        self.env._calls.append(call)
        try:
            if replacement is None:
                result_text = await self.app.run_activity(name, input_text)
            else:
                if inspect.iscoroutinefunction(replacement):
                    result = await replacement(value)
                else:
                    result = await asyncio.to_thread(replacement, value)
                result_text = bindings.activity_output(result)
        except Exception as error:
            call.outcome, call.error = "failed", f"{type(error).__name__}: {error}"
            if replacement is None:
                raise
            raise activity_error(name, error) from error
        call.outcome = "succeeded"
        return result_text


class DurableTestEnv:
    """An app folder running in this test's event loop; use as `async with`.

    - `activities`: functions that replace the app's activities by the name orchestrators call them
      (sync or async, given the activity's decoded input; what they return or raise is what the
      activity returns or raises).
    - `settings`: app settings (environment variables) for the app while the env runs, on top of
      the folder's local.settings.json.
    - `storage`: "memory" (default) or "table" (AzureWebJobsStorage, as `python -m durable_host`).
    - `virtual_time` (default True), `start_time`, `auto_advance` (default True): the clock.
    - `serve`: also serve HTTP on a free loopback port (`base_url`); switched on by itself when a
      function binds a durableClient, whose SDK client speaks HTTP to the host.
    - `check_determinism` (default True): check each episode's replay against the one before.
    """

    def __init__(
        self,
        app_dir: str | Path,
        *,
        activities: Mapping[str, Activity] | None = None,
        settings: Mapping[str, str] | None = None,
        storage: str = MEMORY_STORAGE,
        hub_name: str = DEFAULT_HUB,
        virtual_time: bool = True,
        start_time: datetime | None = None,
        auto_advance: bool = True,
        serve: bool | None = None,
        check_determinism: bool = True,
    ) -> None:
        self.app_dir = Path(app_dir)
        self.settings = dict(settings or {})
        self.storage = storage
        self.hub_name = hub_name
        self.virtual_time = virtual_time
        self.start_time = start_time
        self.auto_advance = auto_advance
        self.serve = serve
        self.check_determinism = check_determinism
        self.failures: list[str] = []
        self._replaced = {name.lower(): fn for name, fn in (activities or {}).items()}
        self._calls: list[ActivityCall] = []
        self._statuses: dict[str, list[InstanceStatus]] = {}
        self._host: LocalHost | None = None
        self._store: TaskHubStore | None = None
        self._changed = asyncio.Event()

    # lifecycle

    async def __aenter__(self) -> DurableTestEnv:
        await self._start_host(self.start_time)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stop_host()
        if exc is None:
            self.raise_failures()

    async def restart(self) -> None:
        """Stop the engine as a crash would (what was not checkpointed is lost) and start a new one
        on the same task hub, on the same clock time: recovery, as after `kill -9`."""
        now = self.now
        await self._stop_host()
        await self._start_host(now)

    async def _start_host(self, start_time: datetime | None) -> None:
        host = LocalHost(
            self.app_dir,
            port=IF_CLIENTS if self.serve is None else 0 if self.serve else None,
            hub_name=self.hub_name,
            storage=self.storage,
            virtual_time=self.virtual_time,
            virtual_start=start_time,
            auto_advance=self.auto_advance,
            settings=self.settings,
            store=self._store,
            invoker=lambda app: _TestInvoker(self, app),
        )
        await host.__aenter__()
        self._host = host
        if self.storage == MEMORY_STORAGE:
            self._store = host.engine.store
        host.engine.watch(self._checkpointed)

    def _checkpointed(self, record: InstanceRecord) -> None:
        self._statuses.setdefault(record.instance_id, []).append(InstanceStatus.of(record))
        self._changed.set()

    async def _stop_host(self) -> None:
        host, self._host = self._host, None
        if host is not None:
            await host.__aexit__(None, None, None)

    @property
    def host(self) -> LocalHost:
        if self._host is None:
            raise RuntimeError("DurableTestEnv is not running; use it as `async with`")
        return self._host

    @property
    def engine(self) -> Engine:
        return self.host.engine

    @property
    def base_url(self) -> str:
        """Where the app is served (when `serve` or a durableClient binding asked for it)."""
        if not self.host.base_url:
            raise RuntimeError("this env serves no HTTP; pass serve=True")
        return self.host.base_url

    # time

    @property
    def clock(self) -> VirtualClock:
        clock = self.host.clock
        if not isinstance(clock, VirtualClock):
            raise RuntimeError("this env runs on the system clock (virtual_time=False)")
        return clock

    @property
    def now(self) -> datetime:
        return self.host.clock.now()

    async def advance(self, delta: timedelta) -> None:
        """Move virtual time forward, firing what falls due on the way (with `auto_advance=False`
        nothing else moves it, the wall clock included)."""
        await self.clock.advance(delta)

    async def settle(self) -> None:
        """Wait until nothing runs: every episode, activity and HTTP function started so far (and
        what each led to) has finished, or waits for virtual time."""
        await self.clock.settled()

    async def sleep(self, delta: timedelta) -> None:
        """For an async replacement activity: take `delta` of virtual time, as a slow service
        would (timers due sooner, a deadline say, fire meanwhile). This wait is skipped whenever
        nothing else runs; a real wait (`time.sleep`, a network call) is not, and takes wall
        time."""
        await self.clock.sleep(delta)

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Hold virtual time still inside the block (to raise an event before a timeout fires):
        no jump and no timer firing, however long the block takes on the wall clock."""
        async with self.clock.paused():
            yield

    # orchestrations

    async def start(
        self, orchestrator: str, input: Any = None, instance_id: str | None = None
    ) -> str:
        """Start an orchestration as the Python client's start_new does (the input travels as
        JSON text); returns the instance id."""
        instance = instance_id or uuid.uuid4().hex
        input_text = None if input is None else json.dumps(json.dumps(input))
        await self.engine.start_new(orchestrator, instance, input_text)
        return instance

    async def raise_event(
        self, instance_id: str, name: str, data: Any = None, *, json_body: bool = False
    ) -> None:
        """Raise an event as the Python client's raise_event does: the orchestrator then receives
        the data as JSON text (a known trait of the Python client). With `json_body=True` it is
        raised as a JSON body posted to the HTTP API is, and arrives parsed."""
        text = json.dumps(data)
        await self.engine.raise_event(instance_id, name, text if json_body else json.dumps(text))

    async def terminate(self, instance_id: str, reason: str | None = None) -> None:
        await self.engine.terminate(instance_id, reason)

    async def suspend(self, instance_id: str, reason: str | None = None) -> None:
        await self.engine.suspend(instance_id, reason)

    async def resume(self, instance_id: str, reason: str | None = None) -> None:
        await self.engine.resume(instance_id, reason)

    async def status(self, instance_id: str) -> InstanceStatus | None:
        self.raise_failures()
        record = await self.engine.get_status(instance_id)
        return None if record is None else InstanceStatus.of(record)

    async def wait_for(
        self,
        instance_id: str,
        *runtime_statuses: str,
        until: Callable[[InstanceStatus], bool] | None = None,
        within: float = DEFAULT_WAIT,
    ) -> InstanceStatus:
        """Wait until the instance is in one of `runtime_statuses` (default: any finished one)
        and `until` holds; at most `within` real seconds."""
        wanted = runtime_statuses or FINISHED
        deadline = time.monotonic() + within
        while True:
            self._changed.clear()
            status = await self.status(instance_id)
            if (
                status is not None
                and status.runtime_status in wanted
                and (until is None or until(status))
            ):
                return status
            if status is not None and status.runtime_status in FINISHED:
                raise WaitTimeout(
                    f"instance {instance_id!r} ended {status.runtime_status}, not "
                    f"{' or '.join(wanted)}{' as wanted' if until else ''}; its output: "
                    f"{status.output!r}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(self._stuck(instance_id, status, wanted, within))
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue

    def _stuck(
        self,
        instance_id: str,
        status: InstanceStatus | None,
        wanted: tuple[str, ...],
        timeout: float,
    ) -> str:
        if status is None:
            return f"instance {instance_id!r} does not exist (waited {timeout:g} s for {wanted})"
        waiting = self.engine.open_work(instance_id) or ["nothing"]
        clock = self.host.clock
        next_due = clock.next_due() if isinstance(clock, VirtualClock) else None
        return (
            f"instance {instance_id!r} is {status.runtime_status} after {timeout:g} s, not "
            f"{' or '.join(wanted)} (custom status {status.custom_status!r}); it waits on "
            f"{', '.join(waiting)}; clock at {clock.now().isoformat()}, next timer due "
            f"{next_due.isoformat() if next_due else 'none'}"
        )

    async def history(
        self, instance_id: str, *, show_output: bool = True, show_input: bool = False
    ) -> list[dict[str, Any]]:
        """The history as the status API's `historyEvents` shows it on the real host."""
        return public_history(await self.engine.get_history(instance_id), show_output, show_input)

    def statuses(self, instance_id: str) -> list[InstanceStatus]:
        """The instance's status after each of its episodes, in order (custom status included),
        to follow its progress step by step."""
        return list(self._statuses.get(instance_id, []))

    def calls(self, activity: str | None = None) -> list[ActivityCall]:
        """Activity invocations so far (of one activity, when named), in order."""
        if activity is None:
            return list(self._calls)
        return [call for call in self._calls if call.name.lower() == activity.lower()]

    def raise_failures(self) -> None:
        if self.failures:
            raise NonDeterminismError(self.failures[0])

    # HTTP, in-process

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Call the app's HTTP function for `path` (e.g. "/api/orders?x=1") in this process, as
        the host routes and binds it; no port involved."""
        sent = CIMultiDict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        origin = self.host.base_url or "http://localhost"
        result = await call_http_function(
            self.host.app, method.upper(), URL(origin + path), sent.items(), body or b""
        )
        return HttpResponse(result.status, CIMultiDict(result.headers), result.body)


def _replay_difference(before: list[Any], after: list[Any]) -> str | None:
    """Where a replay's actions first depart from the previous episode's, or None."""
    if len(after) < len(before):
        return f"{len(after)} actions where the last episode had {len(before)}"
    return _first_difference(before, after[: len(before)], "actions")


def _first_difference(first: Any, second: Any, path: str = "") -> str | None:
    """Where two JSON values first differ, in words, or None when equal (a timer may have been
    cancelled since)."""
    if path.endswith(".isCanceled") and first is False and second is True:
        return None
    if type(first) is not type(second):
        return f"{_where(path)}: {first!r} then {second!r}"
    if isinstance(first, dict):
        for key in sorted(set(first) | set(second)):
            if key not in first or key not in second:
                return f"{_where(path + '.' + str(key))}: present only in one call"
            found = _first_difference(first[key], second[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(first, list):
        for index, (left, right) in enumerate(zip(first, second, strict=False)):
            found = _first_difference(left, right, f"{path}[{index}]")
            if found:
                return found
        if len(first) != len(second):
            return f"{_where(path)}: {len(first)} items then {len(second)}"
        return None
    return None if first == second else f"{_where(path)}: {first!r} then {second!r}"


def _where(path: str) -> str:
    return path.lstrip(".") or "the state"
