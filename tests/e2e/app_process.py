"""The Function App in the project root, run as a real process the way a user runs it.

Two hosts can run it: durable_host (`python -m durable_host`, always available) and Azure Functions
Core Tools (`func start`, when installed). Each run gets its own task hub and ledger tables in the
given storage account, so runs never see each other's sagas. A process runs in its own process
group, so stopping it (or killing it, for crash tests) takes its children along.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from durable_host.azurite import free_port
from tests.conftest import PROJECT_ROOT
from tests.http_client import call, wait_for

DURABLE_HOST = "durable_host"
CORE_TOOLS = "core_tools"
HOSTS = (DURABLE_HOST, CORE_TOOLS)
CORE_TOOLS_MISSING = "Azure Functions Core Tools ('func') is not on PATH"
# Both hosts overlay AzureFunctionsJobHost__ variables onto host.json: a run's own task hub.
HUB_OVERRIDE = "AzureFunctionsJobHost__extensions__durableTask__hubName"
STARTUP_SECONDS = {DURABLE_HOST: 90.0, CORE_TOOLS: 180.0}
STOP_GRACE_SECONDS = 10.0
# Settings the tests' runs share unless a test asks otherwise: quick retries, so that a saga whose
# step fails settles in well under a second, and a deadline no healthy step comes near.
TEST_SETTINGS = {
    "SAGA_DEMO_DATA": "true",
    "SAGA_STEP_RETRY_ATTEMPTS": "3",
    "SAGA_STEP_RETRY_INTERVAL_MS": "100",
    "SAGA_COMPENSATION_RETRY_ATTEMPTS": "10",
    "SAGA_COMPENSATION_RETRY_INTERVAL_MS": "100",
    "SAGA_STEP_DEADLINE_SECONDS": "60",
}
# Inherited variables that would change what the app does (tracing among them); each run sets its
# own.
_APP_VARIABLES = (
    "AzureWebJobsStorage",
    "SAGA_",
    "AzureFunctionsJobHost__",
    "OTEL_",
    "APPLICATIONINSIGHTS_",
)


@dataclass(frozen=True)
class AppConfig:
    """Where a run keeps its state, and the app settings it runs with."""

    storage: str
    hub_name: str
    table_prefix: str
    settings: Mapping[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_APP_VARIABLES)}
        env.update(TEST_SETTINGS)
        env.update(self.settings)
        env["AzureWebJobsStorage"] = self.storage
        env["SAGA_TABLE_PREFIX"] = self.table_prefix
        env["FUNCTIONS_WORKER_RUNTIME"] = "python"
        env[HUB_OVERRIDE] = self.hub_name
        return env


def core_tools() -> str | None:
    return shutil.which("func")


class RunningApp:
    """One process serving the app at `base_url`."""

    def __init__(self, kind: str, process: subprocess.Popen[bytes], base_url: str, log: Path):
        self.kind = kind
        self.process = process
        self.base_url = base_url
        self.log = log

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/{path}"

    def output(self, last_chars: int = 4000) -> str:
        """The tail of what the process printed, for failure messages."""
        text = self.log.read_text(errors="replace")
        return text[-last_chars:]

    def count_printed(self, text: str) -> int:
        """How often the process printed `text` (both hosts log each function execution)."""
        return self.log.read_text(errors="replace").count(text)

    def kill(self) -> None:
        """SIGKILL to the whole process group: a crash, with no chance to clean up."""
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM to the process group; SIGKILL if it has not exited within the grace period."""
        if self.process.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


class AppLauncher:
    """Starts the project's app on `kind` with `config`, as often as a test needs (restarts reuse
    the same storage, hub and tables); `workdir` holds the logs. Another app folder can be run
    instead (`app_dir`), with durable_host options of its own (`options`, e.g. memory storage and
    virtual time), ready once `probe` (a path under /api) answers 200."""

    def __init__(
        self,
        kind: str,
        config: AppConfig,
        workdir: Path,
        *,
        app_dir: Path = PROJECT_ROOT,
        options: tuple[str, ...] = (),
        probe: str = "customers/alice",
    ) -> None:
        if kind not in HOSTS:
            raise ValueError(f"unknown host {kind!r}; expected one of {HOSTS}")
        self.kind = kind
        self.config = config
        self.workdir = workdir
        self.app_dir = app_dir
        self.options = options
        self.probe = probe
        self.runs: list[RunningApp] = []

    def start(self) -> RunningApp:
        """Start the app and return once it answers HTTP; fails with the process output if it
        exits or does not answer in time."""
        port = free_port()
        log = self.workdir / f"{self.kind}-{len(self.runs)}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(
                self._command(port),
                cwd=self.app_dir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        running = RunningApp(self.kind, process, f"http://127.0.0.1:{port}", log)
        self.runs.append(running)
        try:
            self._wait_until_serving(running)
        except BaseException:
            running.kill()
            raise
        return running

    def stop_all(self) -> None:
        for running in self.runs:
            running.stop()

    def _command(self, port: int) -> list[str]:
        if self.kind == CORE_TOOLS:
            func = core_tools()
            if func is None:
                raise RuntimeError(CORE_TOOLS_MISSING)
            return [func, "start", "--port", str(port)]
        return [
            sys.executable,
            "-m",
            DURABLE_HOST,
            "--app-dir",
            str(self.app_dir),
            "--port",
            str(port),
            *self.options,
        ]

    def _environment(self) -> dict[str, str]:
        env = self.config.environment()
        # durable_host and the app's shared `saga` package import from the project root; Core
        # Tools' Python worker runs in the project's virtual environment.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
        return env

    def _wait_until_serving(self, running: RunningApp) -> None:
        probe_url = running.url(self.probe)

        def serving() -> bool | None:
            if running.process.poll() is not None:
                raise AssertionError(
                    f"{running.kind} exited with code {running.process.returncode} while "
                    f"starting:\n{running.output()}"
                )
            try:
                reply = call("GET", probe_url, timeout=5)
            except OSError:
                return None
            if reply.status != 200:
                raise AssertionError(f"{running.kind} started but {reply}\n{running.output()}")
            return True

        wait_for(
            f"{running.kind} to serve {probe_url}",
            serving,
            STARTUP_SECONDS[self.kind],
            interval=0.2,
            describe=running.output,
        )
