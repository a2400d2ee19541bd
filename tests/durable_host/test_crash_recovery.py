"""Kill -9 the host mid-flight, start it again: every orchestration finishes, nothing is lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from durable_host.azurite import free_port, is_listening
from tests.conftest import PROJECT_ROOT
from tests.durable_host.orchestration_client import ManagementClient
from tests.http_client import call, wait_for

APP = Path(__file__).resolve().parent / "apps" / "orchestrations"

pytestmark = pytest.mark.crash


@pytest.fixture
def crash_app(tmp_path: Path) -> Path:
    """A copy of the test app with a task hub of its own in host.json."""
    app_dir = tmp_path / "app"
    shutil.copytree(APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    host_json = json.loads((app_dir / "host.json").read_text())
    durable = host_json["extensions"]["durableTask"]
    durable["hubName"] = "Crash" + uuid.uuid4().hex[:10]
    # Few activity slots, so that much is still in flight when the host is killed.
    durable["maxConcurrentActivityFunctions"] = 4
    (app_dir / "host.json").write_text(json.dumps(host_json))
    return app_dir


@contextmanager
def host_process(
    app_dir: Path, connection_string: str, log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], ManagementClient]]:
    port = free_port()
    environment = {**os.environ, "AzureWebJobsStorage": connection_string}
    environment["PYTHONPATH"] = str(PROJECT_ROOT)
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "durable_host", "--app-dir", str(app_dir), "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def listening() -> bool | None:
        assert process.poll() is None, f"host exited early; see {log}"
        return True if is_listening(port) else None

    try:
        wait_for(f"the host to listen on {port} (see {log})", listening, 60, interval=0.05)
        yield process, ManagementClient(f"http://127.0.0.1:{port}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def count_completed(client: ManagementClient, prefix: str) -> int:
    reply = call(
        "GET", f"{client.api}/instances/?instanceIdPrefix={prefix}&runtimeStatus=Completed"
    )
    return len(reply.json()) if reply.status == 200 else 0


def test_killed_host_resumes_every_orchestration(
    crash_app: Path, storage_connection_string: str, tmp_path: Path
) -> None:
    prefix = "crash-" + uuid.uuid4().hex[:6]
    fan_outs = {f"{prefix}-fan-{n}": 6 + n % 5 for n in range(30)}
    chains = {f"{prefix}-chain-{n}": n for n in range(20)}
    waiters = [f"{prefix}-wait-{n}" for n in range(10)]
    log = tmp_path / "host.log"

    with host_process(crash_app, storage_connection_string, log) as (process, client):
        for instance, count in fan_outs.items():
            assert client.start("FanOut", instance, {"count": count}).status == 202
        for instance, start in chains.items():
            assert client.start("SlowChain", instance, start).status == 202
        for instance in waiters:
            assert client.start("WaitTwo", instance).status == 202
            # Acknowledged events must survive the crash even if no episode has run them yet.
            assert client.raise_event(instance, "A", instance).status == 202
            assert client.raise_event(instance, "B", 2).status == 202
        total = len(fan_outs) + len(chains) + len(waiters)
        wait_for("some completions", lambda: count_completed(client, prefix) >= 3 or None, 60)
        completed_before = count_completed(client, prefix)
        process.kill()
    assert completed_before < total, "everything finished before the crash; nothing was tested"

    # A second crash, while the restarted host is still recovering and catching up.
    with host_process(crash_app, storage_connection_string, log) as (process, client):
        wait_for(
            "progress after restart",
            lambda: count_completed(client, prefix) > completed_before or None,
            60,
        )
        process.kill()

    with host_process(crash_app, storage_connection_string, log) as (_, client):
        for instance, count in fan_outs.items():
            status = client.wait_until(instance, timeout=120)
            squares = [n * n for n in range(count)]
            assert status["runtimeStatus"] == "Completed", status
            assert status["output"] == {"squares": squares, "total": sum(squares)}
        for instance, start in chains.items():
            status = client.wait_until(instance, timeout=120)
            assert status["runtimeStatus"] == "Completed", status
            assert status["output"] == start + 10
            # Duplicate activity results (an activity re-run after the crash) change nothing.
            assert [e["EventType"] for e in status["historyEvents"]].count("TaskCompleted") == 5
        for instance in waiters:
            status = client.wait_until(instance, timeout=120)
            assert status["output"] == [instance, 2]
