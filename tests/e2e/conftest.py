"""The app running as a process on each host, against the session's Azurite.

`host_kind` runs every test once on durable_host and once on Core Tools (skipped, with the reason,
where `func` is not installed). `launch_app` starts a run with its own task hub and ledger tables,
so apps started by different tests never share sagas or balances.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from .app_process import CORE_TOOLS, CORE_TOOLS_MISSING, HOSTS, AppConfig, AppLauncher, core_tools
from .saga_client import SagaApp

LaunchApp = Callable[[Mapping[str, str]], tuple[AppLauncher, SagaApp]]


@pytest.fixture(scope="module", params=HOSTS)
def host_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    if kind == CORE_TOOLS and core_tools() is None:
        pytest.skip(CORE_TOOLS_MISSING)
    return kind


@pytest.fixture(scope="module")
def launch_app(
    host_kind: str, storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LaunchApp]:
    """`launcher, app = launch_app({"SETTING": "value"})` starts the app with those settings on
    top of the tests' defaults; every run still going at the end of the module is stopped."""
    launchers: list[AppLauncher] = []

    def launch(settings: Mapping[str, str]) -> tuple[AppLauncher, SagaApp]:
        name = "E2E" + uuid.uuid4().hex[:12]
        config = AppConfig(
            storage=storage_connection_string,
            hub_name=name,
            table_prefix=name,
            settings=dict(settings),
        )
        workdir: Path = tmp_path_factory.mktemp(f"{host_kind}-{name}")
        launcher = AppLauncher(host_kind, config, workdir)
        launchers.append(launcher)
        return launcher, SagaApp(launcher.start(), config)

    yield launch
    for launcher in launchers:
        launcher.stop_all()


@pytest.fixture(scope="module")
def app(launch_app: LaunchApp) -> SagaApp:
    """The app with the default test settings, shared by the tests of one module."""
    _, running = launch_app({})
    return running
