"""The loaded Function App: invokes its functions the way the Python worker does.

The engine calls it through `contracts.FunctionInvoker` (orchestrators and activities, JSON text
in and out); the HTTP server calls `run_http`. Sync functions run in a thread pool sized from
host.json's concurrency settings, as the worker runs them off its event loop; async ones are
awaited.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from azure.functions import meta

from durable_host import bindings
from durable_host.clock import WorkTracker
from durable_host.config import HostSettings, read_host_settings
from durable_host.contracts import ActivityError, FunctionInvocationError, FunctionKind
from durable_host.function_spec import FunctionSpec
from durable_host.loader import load_functions
from durable_host.routing import Route, RouteTable
from durable_host.trace_context import NO_TRACE, InvocationTrace

log = logging.getLogger("durable_host.functions")

OUT_OF_PROC_DATA = "\n\n$OutOfProcData$:"
# Threads for HTTP functions, on top of one per concurrent activity and orchestrator.
HTTP_THREADS = 8
# The HResult .NET gives System.Exception; the extension's serialised failure details carry it.
_EXCEPTION_HRESULT = -2146233088


class FunctionApp:
    """Every function of one app folder, ready to invoke; implements contracts.FunctionInvoker."""

    def __init__(
        self, app_dir: Path, functions: Mapping[str, FunctionSpec], settings: HostSettings
    ) -> None:
        self.app_dir = app_dir
        self.settings = settings
        self.functions = dict(functions)
        # By the name the host invokes each by: the route's function, or the orchestrator or
        # activity name the Durable extension registered.
        self._by_lower_name = {spec.durable_name.lower(): spec for spec in self.functions.values()}
        self.routes = RouteTable(
            Route(spec.name, spec.route, spec.methods)
            for spec in self.functions.values()
            if spec.kind is FunctionKind.HTTP
        )
        self._pool = ThreadPoolExecutor(
            max_workers=settings.max_concurrent_activities
            + settings.max_concurrent_orchestrators
            + HTTP_THREADS,
            thread_name_prefix="function",
        )
        self._durable_client_payload: Callable[[], str] | None = None
        # Told about every function body that runs, when a host keeps virtual time.
        self.tracker: WorkTracker | None = None
        self._running = 0
        self._running_lock = threading.Lock()

    @classmethod
    def load(cls, app_dir: Path, settings: HostSettings | None = None) -> FunctionApp:
        """Load and validate every function; raises config.ConfigError or loader.AppLoadError."""
        app_dir = app_dir.resolve()
        settings = settings or read_host_settings(app_dir)
        return cls(app_dir, load_functions(app_dir), settings)

    def bind_durable_client(self, payload: Callable[[], str]) -> None:
        """Where `durableClient` bindings get their payload (the server knows its own origin)."""
        self._durable_client_payload = payload

    async def aclose(self) -> None:
        """Release what invocations left behind: the thread pool, and the Durable SDK's shared
        client session (bound to this event loop, which ends with the host)."""
        await _close_durable_client_session()
        self.close()

    def close(self) -> None:
        """Stop taking work without waiting for functions still running: what they were doing
        for the engine is redone after the next start (activities run at least once), and a
        stop must not hang on a function that runs for minutes."""
        if self._running:
            log.warning(
                "Stopping with %d function invocation(s) still running; "
                "their durable work resumes on the next start",
                self._running,
            )
        self._pool.shutdown(wait=False, cancel_futures=True)

    @contextmanager
    def _counting(self) -> Iterator[None]:
        """Count the function bodies running (in any thread), to report what a stop abandons and
        to tell a virtual clock that something runs."""
        with self._running_lock:
            self._running += 1
        if self.tracker is not None:
            self.tracker.begin()
        try:
            yield
        finally:
            with self._running_lock:
                self._running -= 1
            if self.tracker is not None:
                self.tracker.end()

    @contextmanager
    def _logged(self, spec: FunctionSpec, invocation: str) -> Iterator[None]:
        """The host's "Executing"/"Executed" lines around one invocation. A function that calls
        sys.exit() fails: left alone it would stop the event loop, and one function must not end
        the host."""
        started = time.monotonic()
        log.info("Executing 'Functions.%s' (Id=%s)", spec.name, invocation)
        outcome = "Failed"
        try:
            yield
            outcome = "Succeeded"
        except SystemExit as error:
            raise RuntimeError(f"the function called sys.exit({error.code!r})") from error
        finally:
            log.info(
                "Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)",
                spec.name,
                outcome,
                invocation,
                (time.monotonic() - started) * 1000,
            )

    def get(self, name: str) -> FunctionSpec | None:
        return self._by_lower_name.get(name.lower())

    # contracts.FunctionInvoker

    def kind_of(self, name: str) -> FunctionKind | None:
        spec = self.get(name)
        return spec.kind if spec else None

    def call_orchestrator(self, name: str, context_json: str) -> str:
        spec = self._require(name, FunctionKind.ORCHESTRATOR)
        if spec.is_async:
            raise FunctionInvocationError(
                f"Orchestrator function '{spec.durable_name}' is a coroutine function; "
                "orchestrators are generator functions wrapped by df.Orchestrator.create"
            )
        try:
            trigger = bindings.orchestration_context(context_json)
            arguments: dict[str, Any] = {spec.trigger.name: trigger}
            context, _ = self._bind(spec, arguments, NO_TRACE)
            with self._logged(spec, context.invocation_id):
                result = self._call(spec, context, arguments)
            return bindings.orchestrator_state(result)
        except Exception as error:
            message = str(error)
            if OUT_OF_PROC_DATA in message:
                return message.split(OUT_OF_PROC_DATA, 1)[1]
            raise FunctionInvocationError(
                f"Orchestrator function '{spec.durable_name}' failed: "
                f"{type(error).__name__}: {message}"
            ) from error

    async def run_activity(self, name: str, input_text: str) -> str:
        spec = self._require(name, FunctionKind.ACTIVITY)
        try:
            value = bindings.activity_input(input_text)
            result, _ = await self._invoke(spec, {spec.trigger.name: value}, NO_TRACE)
            return bindings.activity_output(result)
        except Exception as error:
            raise activity_error(spec.durable_name, error) from error

    # HTTP

    async def run_http(
        self, name: str, request: meta.Datum, trace: InvocationTrace
    ) -> bindings.HttpResult:
        """Invoke an HTTP function with the worker's `http` Datum and the trace context of the
        host's span for the request; errors propagate."""
        spec = self._require(name, FunctionKind.HTTP)
        arguments = {spec.trigger.name: bindings.decode("httpTrigger", request)}
        result, outputs = await self._invoke(spec, arguments, trace)
        if spec.return_binding is not None:
            return bindings.http_result(bindings.encode("http", result))
        if result is not None:
            raise bindings.BindingError(
                f"function {spec.name!r} has no $return binding but returned a "
                f"{type(result).__name__}"
            )
        response = next((o.get() for o in outputs.values() if o.get() is not None), None)
        if response is None:
            return bindings.HttpResult(204, [], b"")
        return bindings.http_result(bindings.encode("http", response))

    # invocation

    def _require(self, name: str, kind: FunctionKind) -> FunctionSpec:
        spec = self.get(name)
        if spec is None:
            raise FunctionInvocationError(f"The function '{name}' doesn't exist in {self.app_dir}")
        if spec.kind is not kind:
            raise FunctionInvocationError(
                f"The function '{spec.durable_name}' is of kind {spec.kind}, not {kind}"
            )
        return spec

    def _resolve_inputs(self, spec: FunctionSpec, arguments: dict[str, Any]) -> None:
        for binding in spec.inputs:
            if binding is spec.trigger:
                continue
            if binding.type == "durableClient":
                if self._durable_client_payload is None:
                    raise FunctionInvocationError(
                        f"function {spec.name!r} binds durableClient {binding.name!r}, "
                        "but no Durable client endpoint is running"
                    )
                arguments[binding.name] = bindings.durable_client(self._durable_client_payload())

    def _bind(
        self, spec: FunctionSpec, arguments: dict[str, Any], trace: InvocationTrace
    ) -> tuple[bindings.InvocationContext, dict[str, bindings.OutputParameter[Any]]]:
        """Complete the trigger's arguments with the other bindings and `context`."""
        self._resolve_inputs(spec, arguments)
        outputs: dict[str, bindings.OutputParameter[Any]] = {
            b.name: bindings.OutputParameter() for b in spec.outputs
        }
        arguments.update(outputs)
        context = bindings.InvocationContext(str(uuid.uuid4()), spec.name, str(spec.folder), trace)
        if spec.wants_context:
            arguments["context"] = context
        return context, outputs

    def _call(
        self, spec: FunctionSpec, context: bindings.InvocationContext, arguments: dict[str, Any]
    ) -> Any:
        """Run a sync function body on this thread, as the worker runs it on its own."""
        context.enter_thread()
        with self._counting():
            return spec.main(**arguments)

    async def _invoke(
        self, spec: FunctionSpec, arguments: dict[str, Any], trace: InvocationTrace
    ) -> tuple[Any, dict[str, bindings.OutputParameter[Any]]]:
        context, outputs = self._bind(spec, arguments, trace)
        with self._logged(spec, context.invocation_id):
            if spec.is_async:
                context.enter_thread()
                with self._counting():
                    result = await spec.main(**arguments)
            else:
                call = functools.partial(self._call, spec, context, arguments)
                result = await asyncio.get_running_loop().run_in_executor(self._pool, call)
        return result, outputs


def activity_error(name: str, error: BaseException) -> ActivityError:
    """TaskFailed's Reason and Details as the extension builds them from the worker's failure:
    the worker reports "{type}: {message}", the host frames it as an RpcException, and the
    extension keeps the text after its "Exception:" label (leading space included)."""
    worker_message = f"{type(error).__name__}: {error}"
    stack = "".join(traceback.format_tb(error.__traceback__))
    friendly = f" {worker_message}"
    rpc_exception = {
        "$type": "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, "
        "Microsoft.Azure.WebJobs.Script",
        "ClassName": "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException",
        "Message": f"Result: Failure\nException: {worker_message}\nStack: {stack}",
        "Data": None,
        "InnerException": None,
        "HelpURL": None,
        "StackTraceString": None,
        "RemoteStackTraceString": stack,
        "RemoteStackIndex": 0,
        "ExceptionMethod": None,
        "HResult": _EXCEPTION_HRESULT,
        "Source": None,
        "WatsonBuckets": None,
    }
    details = {
        "$type": "System.Exception, System.Private.CoreLib",
        "ClassName": "System.Exception",
        "Message": friendly,
        "Data": None,
        "InnerException": rpc_exception,
        "HelpURL": None,
        "StackTraceString": None,
        "RemoteStackTraceString": None,
        "RemoteStackIndex": 0,
        "ExceptionMethod": None,
        "HResult": _EXCEPTION_HRESULT,
        "Source": None,
        "WatsonBuckets": None,
    }
    return ActivityError(
        f"Activity function '{name}' failed: {friendly}", json.dumps(details, separators=(",", ":"))
    )


async def _close_durable_client_session() -> None:
    """The Durable SDK keeps one aiohttp session per process for its client calls. The worker's
    loop lives as long as the process; a LocalHost's loop does not, and a session left bound to a
    closed loop would break the next host started in the same process."""
    try:
        from azure.durable_functions.models.utils import http_utils
    except ImportError:
        return
    session = getattr(http_utils, "_client_session", None)
    close = getattr(http_utils, "_close_session", None)
    # Only a session made on this loop: another host in the process may still be using its own.
    if close is not None and getattr(session, "_loop", None) is asyncio.get_running_loop():
        await close()
