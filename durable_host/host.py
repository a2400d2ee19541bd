"""LocalHost: one running app (settings, storage, functions, engine, HTTP server) as an async
context manager, shared by the command line and the tests."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from types import TracebackType

from durable_host import azurite
from durable_host.app import FunctionApp
from durable_host.config import (
    ConfigError,
    HostSettings,
    StartupError,
    apply_values,
    read_host_settings,
    read_local_settings,
    resolve_hub_name,
)
from durable_host.engine import Engine, EngineOptions
from durable_host.server import AppServer, port_is_free

log = logging.getLogger("durable_host")

STORAGE_SETTING = "AzureWebJobsStorage"


class LocalHost:
    """Runs the app in `app_dir` until exit; `.base_url`, `.port` (the bound one, when 0 was asked
    for) and `.app` are set once entered."""

    def __init__(
        self,
        app_dir: Path,
        port: int = 7071,
        host: str = "127.0.0.1",
        connection_string: str | None = None,
        hub_name: str | None = None,
    ) -> None:
        self.app_dir = app_dir
        self.port = port
        self.host = host
        self.connection_string = connection_string
        self.hub_name = hub_name
        self.base_url = ""
        self.skipped_settings: list[str] = []
        self._previous_environment: dict[str, str | None] = {}
        self._app: FunctionApp | None = None
        self._engine: Engine | None = None
        self._server: AppServer | None = None
        self._azurite: azurite.Azurite | None = None

    @property
    def app(self) -> FunctionApp:
        if self._app is None:
            raise RuntimeError("LocalHost is not running; use it as `async with LocalHost(...)`")
        return self._app

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
        self._previous_environment = {name: os.environ.get(name) for name in local.values}
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
        self._warn_about_other_hubs(hub_name)
        if self.port and not port_is_free(self.host, self.port):
            raise StartupError(
                f"cannot listen on {self.host}:{self.port}: the port is in use "
                "(choose another with --port)"
            )
        connection_string = await self._storage(app_dir)
        try:
            self._engine = await Engine.create(
                connection_string,
                EngineOptions(
                    hub_name=hub_name,
                    max_concurrent_activities=settings.max_concurrent_activities,
                    max_concurrent_orchestrators=settings.max_concurrent_orchestrators,
                ),
                self._app,
            )
        except Exception as error:
            what = f"cannot open task hub {hub_name!r}"
            raise _storage_failure(what, connection_string, error) from error
        self._server = AppServer(self._app, self._engine)
        await self._server.start(self.host, self.port)
        self.base_url = self._server.origin
        self.port = self._server.port
        try:
            await self._engine.start()
        except Exception as error:
            what = f"cannot recover task hub {hub_name!r}"
            raise _storage_failure(what, connection_string, error) from error

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
