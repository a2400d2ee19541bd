"""Shared helpers for durable_host tests: test apps on disk and a running LocalHost."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

APPS = Path(__file__).resolve().parent / "apps"
HOST_JSON = {"version": "2.0", "extensions": {"http": {"routePrefix": "api"}}}


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


RunningHost = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def running_host(storage_connection_string: str, unique_name: str) -> RunningHost:
    """`async with running_host(app_dir) as base_url:` runs LocalHost in-process on a free port
    against the session Azurite, with a task hub of its own."""
    from durable_host.host import LocalHost

    @asynccontextmanager
    async def run(app_dir: Path, hub_name: str | None = None) -> AsyncIterator[str]:
        async with LocalHost(
            app_dir,
            port=0,
            connection_string=storage_connection_string,
            hub_name=hub_name or unique_name,
        ) as host:
            yield host.base_url

    return run
