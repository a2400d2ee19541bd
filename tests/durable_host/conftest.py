"""Shared helpers for durable_host tests: test apps on disk and a running LocalHost."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from durable_host.host import LocalHost

APPS = Path(__file__).resolve().parent / "apps"
HOST_JSON = {"version": "2.0", "extensions": {"http": {"routePrefix": "api"}}}
ORCHESTRATOR_JSON = {
    "bindings": [{"name": "context", "type": "orchestrationTrigger", "direction": "in"}]
}
ACTIVITY_JSON = {"bindings": [{"name": "value", "type": "activityTrigger", "direction": "in"}]}


def twins(name: str) -> list[Any]:
    """A v1 test app and its v2 twin (`{name}_v2`, the same functions in function_app.py), as
    pytest params, so one test holds both programming models to the same answers."""
    return [pytest.param(APPS / name, id="v1"), pytest.param(APPS / f"{name}_v2", id="v2")]


def write_app(
    app_dir: Path,
    functions: Mapping[str, tuple[dict[str, Any] | str, str]],
    host_json: dict[str, Any] | None = None,
) -> Path:
    """Write an app: host.json plus, per function, function.json (an object or raw text) and
    __init__.py."""
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "host.json").write_text(json.dumps(host_json or HOST_JSON))
    for name, (declaration, script) in functions.items():
        folder = app_dir / name
        folder.mkdir()
        text = declaration if isinstance(declaration, str) else json.dumps(declaration)
        (folder / "function.json").write_text(text)
        (folder / "__init__.py").write_text(script)
    return app_dir


def write_v2_app(
    app_dir: Path,
    script: str,
    modules: Mapping[str, str] | None = None,
    host_json: dict[str, Any] | None = None,
) -> Path:
    """Write a v2 app: host.json, function_app.py and other modules by file name."""
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "host.json").write_text(json.dumps(host_json or HOST_JSON))
    (app_dir / "function_app.py").write_text(script)
    for name, text in (modules or {}).items():
        (app_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (app_dir / name).write_text(text)
    return app_dir


@contextmanager
def serve(
    app_dir: Path, connection_string: str, hub_name: str, startup_timeout: float = 60.0
) -> Iterator[LocalHost]:
    """Run LocalHost on a free loopback port in a background thread (its own event loop), so sync
    and async tests alike can talk to it over HTTP; stopped cleanly on exit.

    Hosts may overlap, but the Durable SDK keeps one client session per process: only one of
    the hosts running at a time should serve functions that use a durableClient binding."""
    started = threading.Event()
    state: dict[str, Any] = {}

    async def run() -> None:
        state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with LocalHost(
                app_dir, port=0, connection_string=connection_string, hub_name=hub_name
            ) as host:
                state["host"] = host
                started.set()
                await state["stop"].wait()
        except BaseException as error:
            state["error"] = error
        finally:
            started.set()

    thread = threading.Thread(target=asyncio.run, args=(run(),), name=f"host-{hub_name}")
    thread.start()
    if not started.wait(startup_timeout):
        raise TimeoutError(f"LocalHost for {app_dir} did not start within {startup_timeout} s")
    if "error" in state:
        thread.join()
        raise state["error"]
    try:
        yield state["host"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(timeout=60)
        if "error" in state:
            raise state["error"]


RunningHost = Callable[[Path], AbstractContextManager[LocalHost]]


@pytest.fixture
def running_host(storage_connection_string: str, unique_name: str) -> RunningHost:
    """`with running_host(app_dir) as host:` serves the app at `host.base_url` against the
    session Azurite, with a task hub of its own."""

    def run(app_dir: Path) -> AbstractContextManager[LocalHost]:
        return serve(app_dir, storage_connection_string, unique_name)

    return run
