"""LocalHost: one running app (settings, storage, functions, engine, HTTP server) as an async
context manager, shared by the command line, the test kit and the tests.

Storage is the task hub in Azure Table storage (Azurite locally, started when needed) or, with
`storage="memory"`, in the process. Time is the system clock or, with `virtual_time=True`, a
virtual clock that jumps to the next timer whenever nothing runs and keeps the wall clock's pace
while something does.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from durable_host import azurite
from durable_host.app import FunctionApp
from durable_host.clock import Clock, SystemClock, VirtualClock, WorkTracker
from durable_host.config import (
    ConfigError,
    HostSettings,
    StartupError,
    apply_values,
    read_host_settings,
    read_local_settings,
    resolve_hub_name,
)
from durable_host.contracts import FunctionInvoker, FunctionKind
from durable_host.engine import Engine, EngineOptions
from durable_host.memory_store import MemoryTaskHubStore
from durable_host.server import AppServer, port_is_free
from durable_host.store import TaskHubStore
from durable_host.table_store import TableTaskHubStore

log = logging.getLogger("durable_host")

STORAGE_SETTING = "AzureWebJobsStorage"
TABLE_STORAGE = "table"
MEMORY_STORAGE = "memory"
STORAGE_KINDS = (TABLE_STORAGE, MEMORY_STORAGE)
# A `port` for LocalHost: a free loopback port when a function binds a durableClient (whose SDK
# client speaks HTTP to the host), else no HTTP at all.
IF_CLIENTS: Final = "if-clients"


class LocalHost:
    """Runs the app in `app_dir` until exit; `.base_url`, `.port` (the bound one, when 0 was asked
    for), `.app`, `.engine` and `.clock` are set once entered.

    `port=None` serves no HTTP at all (the test kit calls functions in-process), and
    `port=IF_CLIENTS` a free port only when the app needs one. `settings` are app settings put in
    the environment while the host runs, over local.settings.json's Values. `store` gives a task
    hub store to use instead of opening one (a test keeps one across hosts to restart); `invoker`
    wraps the loaded app for the engine (the test kit replaces activities with it).
    """

    def __init__(
        self,
        app_dir: Path,
        port: int | Literal["if-clients"] | None = 7071,
        host: str = "127.0.0.1",
        connection_string: str | None = None,
        hub_name: str | None = None,
        storage: str = TABLE_STORAGE,
        virtual_time: bool = False,
        virtual_start: datetime | None = None,
        auto_advance: bool = True,
        settings: Mapping[str, str] | None = None,
        store: TaskHubStore | None = None,
        invoker: Callable[[FunctionApp], FunctionInvoker] | None = None,
    ) -> None:
        if storage not in STORAGE_KINDS:
            raise ConfigError(f"storage must be one of {', '.join(STORAGE_KINDS)}, not {storage!r}")
        self.app_dir = app_dir
        self.port: int | None = None if isinstance(port, str) else port
        self._port_if_clients = port == IF_CLIENTS
        self.host = host
        self.connection_string = connection_string
        self.hub_name = hub_name
        self.storage = storage
        self.base_url = ""
        self.skipped_settings: list[str] = []
        self.tracker = WorkTracker()
        self.clock: Clock = (
            VirtualClock(self.tracker, virtual_start, auto_advance)
            if virtual_time
            else SystemClock()
        )
        self._settings = dict(settings or {})
        self._given_store = store
        self._wrap_invoker = invoker
        self._previous_environment: dict[str, str | None] = {}
        self._app: FunctionApp | None = None
        self._engine: Engine | None = None
        self._server: AppServer | None = None
        self._azurite: azurite.Azurite | None = None
        self._clock_started = False

    @property
    def app(self) -> FunctionApp:
        if self._app is None:
            raise RuntimeError("LocalHost is not running; use it as `async with LocalHost(...)`")
        return self._app

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("LocalHost is not running; use it as `async with LocalHost(...)`")
        return self._engine

    def describe_storage(self) -> str:
        """One line for the start banner."""
        if self.storage == MEMORY_STORAGE:
            return f"task hub {self.engine.hub_name} in memory (nothing is written to disk)"
        return f"task hub {self.engine.hub_name} in Azure Table storage"

    async def __aenter__(self) -> LocalHost:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _start(self) -> None:
        if not self.app_dir.is_dir():
            raise ConfigError(f"{self.app_dir}: no such app folder")
        app_dir = self.app_dir.resolve()
        local = read_local_settings(app_dir)
        self._previous_environment = {
            name: os.environ.get(name) for name in [*self._settings, *local.values]
        }
        os.environ.update(self._settings)
        self.skipped_settings = apply_values(local.values, os.environ)
        for name in self.skipped_settings:
            log.warning(
                "Skipping '%s' from local settings as it's already defined in current "
                "environment variables.",
                name,
            )
        settings = read_host_settings(app_dir)
        hub_name = resolve_hub_name(self.hub_name, settings)
        self._app = FunctionApp.load(app_dir, settings)
        self._app.tracker = self.tracker
        if self._port_if_clients:
            self.port = 0 if self._binds_durable_client() else None
        self._warn_about_other_hubs(hub_name)
        self._say_keys_are_not_checked()
        if self.port and not port_is_free(self.host, self.port):
            raise StartupError(
                f"cannot listen on {self.host}:{self.port}: the port is in use "
                "(choose another with --port)"
            )
        options = EngineOptions(
            hub_name=hub_name,
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_orchestrators=settings.max_concurrent_orchestrators,
        )
        invoker: FunctionInvoker = (
            self._wrap_invoker(self._app) if self._wrap_invoker else self._app
        )
        store, connection_string = await self._open_store(app_dir, hub_name)
        self._engine = Engine(store, options, invoker, self.clock, self.tracker)
        self._server = AppServer(self._app, self._engine)
        if self.port is not None:
            await self._server.start(self.host, self.port)
            self.base_url = self._server.origin
            self.port = self._server.port
        await self.clock.start()
        self._clock_started = True
        try:
            await self._engine.start()
        except Exception as error:
            what = f"cannot recover task hub {hub_name!r}"
            raise _storage_failure(what, connection_string, error) from error

    async def _open_store(self, app_dir: Path, hub_name: str) -> tuple[TaskHubStore, str]:
        if self._given_store is not None:
            return self._given_store, ""
        if self.storage == MEMORY_STORAGE:
            return MemoryTaskHubStore(hub_name), ""
        connection_string = await self._storage(app_dir)
        try:
            return await TableTaskHubStore.open(connection_string, hub_name), connection_string
        except Exception as error:
            what = f"cannot open task hub {hub_name!r}"
            raise _storage_failure(what, connection_string, error) from error

    def _say_keys_are_not_checked(self) -> None:
        """Azure answers 401 without a key for authLevel function/admin; Core Tools runs them
        without keys, and so does this host: say it once, so nobody mistakes it for security."""
        keyed = sorted(
            spec.name
            for spec in self.app.functions.values()
            if spec.kind is FunctionKind.HTTP
            and str(spec.trigger.raw.get("authLevel", "function")).lower() != "anonymous"
        )
        if keyed:
            log.warning(
                "Function keys are not checked here, as Core Tools does not check them: %s "
                "answer%s without a key locally (on Azure they need one)",
                ", ".join(keyed),
                "" if len(keyed) > 1 else "s",
            )

    def _binds_durable_client(self) -> bool:
        return any(
            binding.type == "durableClient"
            for spec in self.app.functions.values()
            for binding in spec.inputs
        )

    def _warn_about_other_hubs(self, hub_name: str) -> None:
        """A durableClient binding naming another task hub works on the real host; here every
        client talks to the one hub this host runs, so say so rather than surprise."""
        for spec in self.app.functions.values():
            for binding in spec.inputs:
                named = binding.raw.get("taskHub")
                if binding.type == "durableClient" and named:
                    try:
                        other = resolve_hub_name(str(named), HostSettings())
                    except ConfigError:
                        other = str(named)
                    if other.lower() != hub_name.lower():
                        log.warning(
                            "Function %s binds durableClient %r to task hub %r; durable_host "
                            "serves only task hub %r and uses that instead",
                            spec.name,
                            binding.name,
                            other,
                            hub_name,
                        )

    async def _storage(self, app_dir: Path) -> str:
        """Explicit > AzureWebJobsStorage; development storage with nothing listening on its
        ports gets the project's own Azurite, with its data under the app folder."""
        value = self.connection_string or os.environ.get(STORAGE_SETTING, "")
        if not value:
            raise ConfigError(
                f"{STORAGE_SETTING} is not set: add it to {app_dir / 'local.settings.json'} "
                "Values (UseDevelopmentStorage=true for Azurite) or the environment"
            )
        if not azurite.is_development_storage(value):
            return value
        ports = azurite.Ports(*azurite.DEFAULT_PORTS)
        if not any(azurite.is_listening(port) for port in azurite.DEFAULT_PORTS):
            try:
                executable = azurite.find_executable(app_dir, Path(azurite.__file__).parent)
                emulator = azurite.Azurite(app_dir / ".azurite", ports, executable)
                self._azurite = await asyncio.to_thread(emulator.start)
            except azurite.AzuriteError as error:
                raise StartupError(f"development storage: {error}") from None
            log.info(
                "Started Azurite on ports %s with data in %s",
                ", ".join(map(str, azurite.DEFAULT_PORTS)),
                emulator.location,
            )
        return azurite.connection_string(ports)

    async def _stop(self) -> None:
        server, self._server = self._server, None
        engine, self._engine = self._engine, None
        app, self._app = self._app, None
        emulator, self._azurite = self._azurite, None
        try:
            if server is not None:
                await server.stop()
            if engine is not None:
                await engine.stop()
            if self._clock_started:
                self._clock_started = False
                await self.clock.stop()
        finally:
            try:
                if app is not None:
                    await app.aclose()
            finally:
                if emulator is not None:
                    await asyncio.to_thread(emulator.stop)
                self._restore_environment()

    def _restore_environment(self) -> None:
        """Undo what local.settings.json set, so hosts run one after another in one process
        (as tests do) each see only their own app's settings."""
        previous, self._previous_environment = self._previous_environment, {}
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _storage_failure(what: str, connection_string: str, error: Exception) -> StartupError:
    """A storage problem at start, naming the endpoints (never the account key)."""
    parts = [
        p for p in connection_string.split(";") if p and not p.lower().startswith("accountkey")
    ]
    return StartupError(f"{what} in storage ({';'.join(parts)}): {type(error).__name__}: {error}")
