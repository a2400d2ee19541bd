"""`python -m durable_host --app-dir DIR --port PORT`: run a Function App like `func start` does.

`--storage memory` keeps the task hub in the process (no storage emulator, nothing on disk) and
`--virtual-time` runs a virtual clock that jumps to the next durable timer whenever nothing runs
and keeps the wall clock's pace while something does: for demos and for other apps' integration
tests. The start banner says which of each is in use.

The function list and URLs go to stdout (as Core Tools prints them); logs go to stderr. SIGINT and
SIGTERM stop the host cleanly (exit code 0), and give the spans the app's OpenTelemetry SDK still
holds two seconds to leave; a problem at start is one message on stderr and exit code 1.

Settings follow Core Tools: local.settings.json `Values` fill environment variables that are unset
or empty, and a variable already set in the environment wins (the skipped names are logged).
`AzureFunctionsJobHost__section__key` settings override host.json, as on the Functions host.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from opentelemetry import trace

from durable_host.azurite import AzuriteError
from durable_host.config import DEFAULT_PORT, StartupError, read_local_settings
from durable_host.contracts import FunctionKind
from durable_host.function_spec import FunctionSpec
from durable_host.host import STORAGE_KINDS, TABLE_STORAGE, LocalHost

INDENT = " " * 8
# How long a stopping host waits for the app's spans to be exported.
TELEMETRY_FLUSH_MILLIS = 2000


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m durable_host",
        description="Run an Azure Durable Functions app (Python, v1 or v2 programming model) "
        "without Core Tools.",
    )
    parser.add_argument("--app-dir", type=Path, default=Path("."), help="the Function App folder")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="HTTP port (default: local.settings.json Host.LocalHttpPort, else 7071)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--storage",
        choices=STORAGE_KINDS,
        default=TABLE_STORAGE,
        help="where the task hub lives: Azure Table storage from AzureWebJobsStorage (default; "
        "Azurite is started for development storage), or memory (lost on exit)",
    )
    parser.add_argument(
        "--virtual-time",
        action="store_true",
        help="run on a virtual clock: whenever no episode, activity or HTTP function runs, "
        "time jumps to the next due timer; while one runs, timers fire at the wall clock's pace",
    )
    return parser.parse_args(argv)


def describe_functions(functions: list[FunctionSpec], host: str, port: int, prefix: str) -> str:
    """The listing Core Tools prints at start: HTTP functions with their URLs, then the rest."""
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "localhost", "") else host
    base = f"http://{shown_host}:{port}/" + (f"{prefix}/" if prefix else "")
    lines = ["", "Functions:", ""]
    for spec in sorted(functions, key=lambda s: (s.kind is not FunctionKind.HTTP, s.name.lower())):
        if spec.kind is FunctionKind.HTTP:
            declared = spec.trigger.raw.get("methods") or []
            methods = f"[{','.join(m.upper() for m in declared)}] " if declared else ""
            route = str(spec.trigger.raw.get("route") or spec.name)
            lines.append(f"{INDENT}{spec.name}: {methods}{base}{route}")
        else:
            lines.append(f"{INDENT}{spec.name}: {spec.trigger.type}")
        lines.append("")
    return "\n".join(lines)


async def _serve(arguments: argparse.Namespace, app_dir: Path, port: int) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    host = arguments.host
    async with LocalHost(
        app_dir,
        port=port,
        host=host,
        storage=arguments.storage,
        virtual_time=arguments.virtual_time,
    ) as running:
        listing = describe_functions(
            list(running.app.functions.values()),
            host,
            running.port or port,
            running.app.settings.route_prefix,
        )
        print(listing, flush=True)
        print(f"Storage: {running.describe_storage()}", flush=True)
        print(f"Clock: {running.clock.describe()}", flush=True)
        print("Host started. Press Ctrl+C to shut down.", flush=True)
        await stopping.wait()
        print("Stopping the host...", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="[%(asctime)s] %(levelname)s %(message)s"
    )
    # The Azure SDKs log every storage request at INFO; keep the host's and the app's own logs.
    logging.getLogger("azure").setLevel(logging.WARNING)
    app_dir = arguments.app_dir.resolve()
    try:
        if not app_dir.is_dir():
            raise StartupError(f"{app_dir}: no such app folder")
        port = arguments.port
        if port is None:
            port = read_local_settings(app_dir).local_http_port or DEFAULT_PORT
        # Core Tools runs the app with its folder as the working directory.
        os.chdir(app_dir)
        return asyncio.run(_serve(arguments, app_dir, port))
    except (StartupError, AzuriteError) as error:
        print(f"durable_host: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C before the signal handlers were installed: nothing is running yet.
        return 0


def flush_telemetry() -> None:
    """Export the spans the app's OpenTelemetry SDK still holds (a batch exporter sends every
    few seconds), within TELEMETRY_FLUSH_MILLIS: the SDK does it from an atexit hook, which the
    exit below skips."""
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if callable(flush):
        flush(TELEMETRY_FLUSH_MILLIS)


if __name__ == "__main__":
    exit_code = main()
    flush_telemetry()
    # The host has stopped (server, engine, storage). A function still running in a worker
    # thread would hold up the interpreter's exit until it returns, so leave without waiting.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
