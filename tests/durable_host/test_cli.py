"""`python -m durable_host` as a user runs it: listing, serving, clean stops, clear start errors."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from durable_host import azurite
from tests.conftest import PROJECT_ROOT
from tests.http_client import call, wait_for

from .conftest import ACTIVITY_JSON, APPS, ORCHESTRATOR_JSON, twins, write_app, write_v2_app

HTTP_FUNCTION = (
    "import azure.functions as func\n\n\n"
    "def main(req: func.HttpRequest) -> func.HttpResponse:\n"
    "    return func.HttpResponse('served')\n"
)
JSON = {"Content-Type": "application/json"}
PING_BINDINGS = [
    {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["get"], "route": "ping"},
    {"type": "http", "direction": "out", "name": "$return"},
]


@dataclass
class Cli:
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text()

    def errors(self) -> str:
        return self.stderr.read_text()

    def wait_until_started(self, timeout: float = 90) -> None:
        def started() -> bool | None:
            if "Host started" in self.output():
                return True
            if self.process.poll() is not None:
                raise AssertionError(f"exited with {self.process.returncode}:\n{self.errors()}")
            return None

        wait_for("the host to start", started, timeout, interval=0.05, describe=self.streams)

    def streams(self) -> str:
        return f"still running; stdout:\n{self.output()}\nstderr:\n{self.errors()}"

    def stop(self, signum: int, timeout: float = 30) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)


StartCli = Callable[..., Cli]


def environment(storage: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AzureWebJobsStorage"}
    if storage is not None:
        env["AzureWebJobsStorage"] = storage
    return env


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[StartCli]:
    """Starts the command line; whatever is still running at the end of the test is killed."""
    started: list[Cli] = []

    def start(app_dir: Path, *arguments: str, storage: str | None = None) -> Cli:
        number = len(started)
        stdout, stderr = tmp_path / f"stdout{number}.txt", tmp_path / f"stderr{number}.txt"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "durable_host", "--app-dir", str(app_dir), *arguments],
                cwd=PROJECT_ROOT,
                env=environment(storage),
                stdout=out,
                stderr=err,
            )
        started.append(Cli(process, stdout, stderr))
        return started[-1]

    yield start
    for running in started:
        if running.process.poll() is None:
            # A clean stop first, so a host that started Azurite also stops it.
            running.process.terminate()
            try:
                running.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()


def finished(cli: Cli, timeout: float = 60) -> int:
    return cli.process.wait(timeout=timeout)


def durable_api(port: int) -> str:
    return f"http://127.0.0.1:{port}/runtime/webhooks/durabletask"


def start_instance(base: str, orchestrator: str, instance: str, value: object) -> None:
    """Start an orchestration over the Durable HTTP API, its input as the Python client sends it."""
    body = json.dumps(json.dumps(value)).encode()
    reply = call("POST", f"{base}/orchestrators/{orchestrator}/{instance}", body, JSON)
    assert reply.status == 202, reply


def completed(base: str, instance: str) -> Callable[[], dict[str, Any] | None]:
    """A probe for `wait_for`: the instance's status once it is Completed."""

    def status() -> dict[str, Any] | None:
        found: dict[str, Any] = call("GET", f"{base}/instances/{instance}").json()
        return found if found["runtimeStatus"] == "Completed" else None

    return status


@pytest.mark.parametrize("app_dir", twins("http_app"))
def test_lists_functions_serves_and_stops_on_sigint(
    cli: StartCli, storage_connection_string: str, app_dir: Path
) -> None:
    port = azurite.free_port()
    running = cli(app_dir, "--port", str(port), storage=storage_connection_string)
    running.wait_until_started()
    lines = running.output().splitlines()
    assert "Functions:" in lines
    url = f"http://localhost:{port}/api"
    assert f"        Echo: [GET,POST,PUT] {url}/echo/{{id:int}}/{{label?}}" in lines
    assert f"        Starter: [POST] {url}/orchestrators/{{functionName}}" in lines
    assert f"        DefaultRoute: {url}/DefaultRoute" in lines
    assert "        Hello: activityTrigger" in lines
    assert "        HelloSequence: orchestrationTrigger" in lines
    assert lines.index("        Echo: [GET,POST,PUT] " + f"{url}/echo/{{id:int}}/{{label?}}") < (
        lines.index("        Hello: activityTrigger")
    )

    reply = call("GET", f"http://127.0.0.1:{port}/api/text")
    assert (reply.status, reply.body) == (200, b"just a string")

    assert running.stop(signal.SIGINT) == 0
    assert "Traceback" not in running.errors()


def test_sigterm_stops_cleanly(cli: StartCli, storage_connection_string: str) -> None:
    port = azurite.free_port()
    running = cli(APPS / "http_app", "--port", str(port), storage=storage_connection_string)
    running.wait_until_started()
    assert running.stop(signal.SIGTERM) == 0
    assert "Traceback" not in running.errors()


def test_a_missing_app_dir_is_one_clear_error(cli: StartCli, tmp_path: Path) -> None:
    running = cli(tmp_path / "nowhere", storage="UseDevelopmentStorage=true")
    assert finished(running) == 1
    errors = running.errors()
    assert f"{tmp_path / 'nowhere'}: no such app folder" in errors
    assert "Traceback" not in errors


def test_a_folder_without_host_json_is_refused(cli: StartCli, tmp_path: Path) -> None:
    running = cli(tmp_path, storage="UseDevelopmentStorage=true")
    assert finished(running) == 1
    assert f"{tmp_path / 'host.json'}: not found" in running.errors()


def test_malformed_function_json_is_one_clear_error(cli: StartCli) -> None:
    running = cli(APPS / "bad_function_json", storage="UseDevelopmentStorage=true")
    assert finished(running) == 1
    errors = running.errors()
    assert str(APPS / "bad_function_json" / "Broken" / "function.json") in errors
    assert "not valid JSON" in errors
    assert "Traceback" not in errors
    assert running.output() == ""


V2_HELLO = (
    "import azure.durable_functions as df\n\n"
    "app = df.DFApp()\n\n\n"
    "@app.activity_trigger(input_name='city')\n"
    "def say_hello(city: str) -> str:\n"
    "    return city\n"
)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        (
            "import",
            "function_app.py: cannot import: ModuleNotFoundError: No module named 'nowhere'",
        ),
        ("duplicate", "Function say_hello does not have a unique function name"),
        ("mixed", "function_app.py (the v2 programming model) sits next to function.json"),
        ("neither", "no functions to run: neither function_app.py"),
        ("host.json", "host.json: not valid JSON: a second JSON value starts at line 1 column 19"),
    ],
)
def test_a_v2_app_with_a_mistake_is_one_clear_error(
    cli: StartCli, tmp_path: Path, mistake: str, message: str
) -> None:
    script = {
        "import": "import nowhere\n" + V2_HELLO,
        "duplicate": V2_HELLO
        + "\n\n@app.function_name('say_hello')\n"
        + "@app.activity_trigger(input_name='city')\n"
        + "def greet(city: str) -> str:\n"
        + "    return city\n",
    }.get(mistake, V2_HELLO)
    write_v2_app(tmp_path, script)
    if mistake == "mixed":
        write_app(tmp_path, {"Legacy": ({"bindings": PING_BINDINGS}, HTTP_FUNCTION)})
    elif mistake == "neither":
        (tmp_path / "function_app.py").unlink()
    elif mistake == "host.json":
        (tmp_path / "host.json").write_text('{"version": "2.0"}{"version": "2.0"}')
    running = cli(tmp_path, "--storage", "memory")
    assert finished(running) == 1
    errors = running.errors()
    assert message in errors
    assert errors.count("durable_host: ") == 1 and "Traceback" not in errors
    assert running.output() == ""


def test_a_port_in_use_is_one_clear_error(cli: StartCli, storage_connection_string: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        running = cli(APPS / "http_app", "--port", str(port), storage=storage_connection_string)
        assert finished(running) == 1
    errors = running.errors()
    assert f"cannot listen on 127.0.0.1:{port}" in errors and "in use" in errors
    assert "Traceback" not in errors


def test_development_storage_starts_and_stops_the_projects_azurite(
    cli: StartCli, tmp_path: Path
) -> None:
    busy = [port for port in azurite.DEFAULT_PORTS if azurite.is_listening(port)]
    if busy:
        pytest.skip(f"storage emulator ports {busy} are taken by another process on this machine")
    app_dir = write_app(tmp_path / "app", {"Ping": ({"bindings": PING_BINDINGS}, HTTP_FUNCTION)})
    settings = {"Values": {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}}
    (app_dir / "local.settings.json").write_text(json.dumps(settings))
    port = azurite.free_port()

    running = cli(app_dir, "--port", str(port))
    running.wait_until_started()
    assert all(azurite.is_listening(p) for p in azurite.DEFAULT_PORTS)
    assert (app_dir / ".azurite").is_dir()
    assert call("GET", f"http://127.0.0.1:{port}/api/ping").body == b"served"

    assert running.stop(signal.SIGINT) == 0

    def listening() -> list[int]:
        return [p for p in azurite.DEFAULT_PORTS if azurite.is_listening(p)]

    wait_for(
        "Azurite to stop listening after the host stopped",
        lambda: True if not listening() else None,
        30,
        describe=lambda: f"still listening on {listening()}",
    )
    assert "Traceback" not in running.errors()


def test_unreachable_storage_is_one_clear_error(cli: StartCli) -> None:
    nothing = azurite.Ports(azurite.free_port(), azurite.free_port(), azurite.free_port())
    running = cli(APPS / "http_app", "--port", "0", storage=azurite.connection_string(nothing))
    assert finished(running) == 1
    errors = running.errors()
    assert "cannot open task hub 'HttpAppHub' in storage" in errors
    assert f"TableEndpoint=http://127.0.0.1:{nothing.table}/" in errors
    assert "AccountKey" not in errors and "Traceback" not in errors


def test_a_killed_host_restarts_on_the_same_port(
    cli: StartCli, storage_connection_string: str
) -> None:
    port = azurite.free_port()
    first = cli(APPS / "http_app", "--port", str(port), storage=storage_connection_string)
    first.wait_until_started()
    # A connection still open when the host dies leaves the port in TIME_WAIT on the host's side.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/api/text")
    assert connection.getresponse().read() == b"just a string"
    first.process.kill()
    first.process.wait()
    connection.close()

    second = cli(APPS / "http_app", "--port", str(port), storage=storage_connection_string)
    second.wait_until_started()
    assert call("GET", f"http://127.0.0.1:{port}/api/text").status == 200
    assert second.stop(signal.SIGINT) == 0


def test_the_port_defaults_to_local_settings_host_local_http_port(
    cli: StartCli, storage_connection_string: str, tmp_path: Path
) -> None:
    app_dir = write_app(tmp_path / "app", {"Ping": ({"bindings": PING_BINDINGS}, HTTP_FUNCTION)})
    port = azurite.free_port()
    (app_dir / "local.settings.json").write_text(json.dumps({"Host": {"LocalHttpPort": port}}))
    running = cli(app_dir, storage=storage_connection_string)
    running.wait_until_started()
    assert f"        Ping: [GET] http://localhost:{port}/api/ping" in running.output().splitlines()
    assert call("GET", f"http://127.0.0.1:{port}/api/ping").body == b"served"
    assert running.stop(signal.SIGINT) == 0


@pytest.mark.parametrize("app_dir", twins("http_slow"))
def test_sigint_does_not_wait_for_a_long_running_activity(
    cli: StartCli, storage_connection_string: str, tmp_path: Path, app_dir: Path
) -> None:
    port = azurite.free_port()
    running = cli(app_dir, "--port", str(port), storage=storage_connection_string)
    running.wait_until_started()
    marker = tmp_path / "activity-started"
    reply = call(
        "POST",
        f"http://127.0.0.1:{port}/api/orchestrators/LongRunning",
        json.dumps(str(marker)).encode(),
        {"Content-Type": "application/json"},
    )
    assert reply.status == 202
    status_url = reply.json()["statusQueryGetUri"]

    def orchestration() -> str:
        if running.process.poll() is not None:
            return f"the host exited with {running.process.returncode}:\n{running.errors()}"
        try:
            return str(call("GET", status_url))
        except OSError as error:
            return f"no status from {status_url}: {error}"

    wait_for(
        "the activity to start",
        lambda: True if marker.exists() else None,
        30,
        interval=0.05,
        describe=orchestration,
    )

    stopping = time.monotonic()
    assert running.stop(signal.SIGINT, timeout=60) == 0
    assert time.monotonic() - stopping < 15


@pytest.mark.parametrize("twin", twins("orchestrations"))
def test_memory_storage_and_virtual_time_run_without_an_emulator(
    cli: StartCli, tmp_path: Path, twin: Path
) -> None:
    app_dir = tmp_path / "app"
    shutil.copytree(twin, app_dir)
    before = [port for port in azurite.DEFAULT_PORTS if azurite.is_listening(port)]
    port = azurite.free_port()
    running = cli(app_dir, "--port", str(port), "--storage", "memory", "--virtual-time")
    running.wait_until_started()
    output = running.output()
    assert "Storage: task hub TestHubName in memory (nothing is written to disk)" in output
    assert "Clock: virtual clock at " in output and "jumps to the next timer when idle" in output

    base = durable_api(port)
    hours = 200
    start_instance(base, "Delay", "long", {"seconds": hours * 3600})
    status = wait_for("the 200-hour timer", completed(base, "long"), 30, interval=0.05)
    # The orchestrator measured the wait on its own clock: 200 hours passed for it.
    assert status["output"] == hours * 3600
    assert [p for p in azurite.DEFAULT_PORTS if azurite.is_listening(p)] == before
    assert not (app_dir / ".azurite").exists()
    assert running.stop(signal.SIGINT) == 0
    assert "Traceback" not in running.errors()


HELD = (
    "import azure.durable_functions as df\n\n\n"
    "def orchestrator(context: df.DurableOrchestrationContext):\n"
    "    return (yield context.call_activity('Hold', context.get_input()))\n\n\n"
    "main = df.Orchestrator.create(orchestrator)\n"
)
HOLD = (
    '"""Says it started, then waits (really) for a release file, a minute at most."""\n\n'
    "import pathlib\n"
    "import time\n\n\n"
    "def main(value: dict) -> str:\n"
    "    pathlib.Path(value['started']).touch()\n"
    "    deadline = time.monotonic() + 60\n"
    "    while not pathlib.Path(value['release']).exists() and time.monotonic() < deadline:\n"
    "        time.sleep(0.05)\n"
    "    return 'released'\n"
)


def test_on_virtual_time_a_timer_keeps_the_wall_clocks_pace_while_an_activity_really_runs(
    cli: StartCli, tmp_path: Path
) -> None:
    app_dir = write_app(
        tmp_path / "app", {"Held": (ORCHESTRATOR_JSON, HELD), "Hold": (ACTIVITY_JSON, HOLD)}
    )
    shutil.copytree(APPS / "orchestrations" / "Delay", app_dir / "Delay")
    port = azurite.free_port()
    running = cli(app_dir, "--port", str(port), "--storage", "memory", "--virtual-time")
    running.wait_until_started()
    assert "keeps the wall clock's pace while work runs" in running.output()
    base = durable_api(port)
    files = {"started": str(tmp_path / "started"), "release": str(tmp_path / "release")}

    start_instance(base, "Held", "held", files)
    wait_for("Hold to start", lambda: True if Path(files["started"]).exists() else None, 30)
    try:
        began = time.monotonic()
        start_instance(base, "Delay", "short", {"seconds": 1})
        left = 3 - (time.monotonic() - began)
        status = wait_for("the one-second timer", completed(base, "short"), left, interval=0.05)
        # The orchestration's own clock moved by exactly the second it waited.
        assert status["output"] == 1
    finally:
        Path(files["release"]).touch()
    assert wait_for("Hold to end", completed(base, "held"), 30)["output"] == "released"

    # Nothing runs any more: a 200-hour timer takes no wall time.
    began = time.monotonic()
    start_instance(base, "Delay", "long", {"seconds": 200 * 3600})
    left = 2 - (time.monotonic() - began)
    status = wait_for("the 200-hour timer", completed(base, "long"), left, interval=0.05)
    assert status["output"] == 200 * 3600
    assert running.stop(signal.SIGINT) == 0
    assert "Traceback" not in running.errors()
