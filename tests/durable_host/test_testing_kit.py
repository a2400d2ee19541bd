"""durable_host.testing: the kit other teams use to test their orchestrations, tested on small apps.

Everything runs in-process on the in-memory task hub and the virtual clock: no Azurite, no port.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from durable_host.testing import DurableTestEnv, NonDeterminismError, WaitTimeout
from tests.durable_host.conftest import (
    ACTIVITY_JSON,
    APPS,
    ORCHESTRATOR_JSON,
    twins,
    write_app,
    write_v2_app,
)
from tests.durable_host.engine_polling import eventually

ORCHESTRATIONS = APPS / "orchestrations"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(params=twins("orchestrations"))
def orchestrations(request: pytest.FixtureRequest) -> Path:
    """The orchestrations test app, v1 and v2: the kit takes either with the same API."""
    return Path(request.param)


@pytest.fixture(params=twins("http_app"))
def http_app(request: pytest.FixtureRequest) -> Path:
    return Path(request.param)


async def test_a_200_hour_timer_completes_at_once_and_moves_orchestration_time(
    orchestrations: Path,
) -> None:
    hours = 200
    started = time.monotonic()
    async with DurableTestEnv(orchestrations, start_time=T0) as env:
        instance = await env.start("Delay", {"seconds": hours * 3600})
        status = await env.wait_for(instance, "Completed")
        assert status.output == hours * 3600
        assert env.now >= T0 + timedelta(hours=hours)
        # Longer than Azure Storage's six-day limit: the SDK waits three days, then the rest
        # (which is under six), as on the real host; each timer fires at its virtual time.
        fired = [e for e in await env.history(instance) if e["EventType"] == "TimerFired"]
        assert [e["FireAt"][:19] for e in fired] == ["2030-01-04T00:00:00", "2030-01-09T08:00:00"]
    assert time.monotonic() - started < 5


def race_app(tmp_path: Path) -> Path:
    """Race: activity Work against a durable timer of the input's seconds; says which won."""
    return write_app(
        tmp_path / "race",
        {
            "Race": (
                ORCHESTRATOR_JSON,
                "import azure.durable_functions as df\n"
                "from datetime import timedelta\n"
                "def orchestrator(context):\n"
                "    work = context.call_activity('Work', None)\n"
                "    wait = timedelta(seconds=context.get_input())\n"
                "    timer = context.create_timer(context.current_utc_datetime + wait)\n"
                "    winner = yield context.task_any([work, timer])\n"
                "    if winner == work:\n"
                "        timer.cancel()\n"
                "        return 'work'\n"
                "    return 'timer'\n"
                "main = df.Orchestrator.create(orchestrator)\n",
            ),
            "Work": (ACTIVITY_JSON, "def main(value):\n    return 'done'\n"),
        },
    )


async def test_a_timer_does_not_skip_ahead_while_the_activity_it_races_runs(tmp_path: Path) -> None:
    app = race_app(tmp_path)
    started, release = threading.Event(), threading.Event()

    def slow_work(_: object) -> str:
        started.set()
        release.wait(10)
        return "done"

    async with DurableTestEnv(app, activities={"Work": slow_work}, start_time=T0) as env:
        instance = await env.start("Race", 60)
        assert await asyncio.to_thread(started.wait, 10)
        # Far more loop turns than an idle clock needs to jump: it must not, while Work runs.
        for _ in range(200):
            await asyncio.sleep(0)
        assert env.now == T0
        release.set()
        status = await env.wait_for(instance, "Completed")
        assert status.output == "work"
        assert env.now < T0 + timedelta(minutes=1)


async def test_a_deadline_fires_on_time_while_the_activity_it_races_really_runs_longer(
    tmp_path: Path,
) -> None:
    release = threading.Event()

    def slow_work(_: object) -> str:  # a service that really takes a minute
        release.wait(60)
        return "done"

    async with DurableTestEnv(race_app(tmp_path), activities={"Work": slow_work}) as env:
        try:
            instance = await env.start("Race", 1)

            async def timer_fired() -> bool:
                history = await env.history(instance)
                return any(e["EventType"] == "TimerFired" for e in history)

            await eventually(timer_fired, "the one-second deadline", limit=3)
            assert [call.outcome for call in env.calls("Work")] == ["running"]
        finally:
            release.set()
        # The orchestrator decided at once; the instance completes once Work has ended.
        status = await env.wait_for(instance, "Completed")
        assert status.output == "timer"


async def test_an_activity_that_really_ends_before_its_deadline_wins_the_race(
    tmp_path: Path,
) -> None:
    def quick_work(_: object) -> str:  # a service that really takes a third of a second
        time.sleep(0.3)
        return "done"

    async with DurableTestEnv(
        race_app(tmp_path), activities={"Work": quick_work}, start_time=T0
    ) as env:
        instance = await env.start("Race", 5)
        status = await env.wait_for(instance, "Completed", within=4)
        assert status.output == "work"
        assert env.now < T0 + timedelta(seconds=5)


async def test_a_short_timer_fires_on_time_while_another_instances_activity_really_runs() -> None:
    started, release = threading.Event(), threading.Event()

    def slow_pause(value: int) -> int:  # a service that really takes a minute
        started.set()
        release.wait(60)
        return value

    async with DurableTestEnv(
        ORCHESTRATIONS, activities={"Pause": slow_pause}, start_time=T0
    ) as env:
        try:
            chain = await env.start("SlowChain", 1)
            assert await asyncio.to_thread(started.wait, 10)
            delay = await env.start("Delay", {"seconds": 1})
            status = await env.wait_for(delay, "Completed", within=3)
            # Its own clock moved by exactly the second it waited.
            assert status.output == 1
        finally:
            release.set()
        await env.wait_for(chain, "Completed")
        # Nothing runs any more: a 200-hour timer takes no wall time.
        long = await env.start("Delay", {"seconds": 200 * 3600})
        assert (await env.wait_for(long, "Completed", within=2)).output == 200 * 3600


async def test_retries_wait_on_virtual_time_and_replaced_activities_count_calls(
    orchestrations: Path,
) -> None:
    failures = {"left": 2}

    def flaky(request: dict[str, object]) -> int:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("the service blinked")
        return 3

    async with DurableTestEnv(orchestrations, activities={"Flaky": flaky}, start_time=T0) as env:
        instance = await env.start("RetryFlaky", {"key": "k", "failures": 0, "attempts": 4})
        status = await env.wait_for(instance)
        assert status.output == {"attempt": 3}
        calls = env.calls("Flaky")
        assert [call.outcome for call in calls] == ["failed", "failed", "succeeded"]
        assert [call.error for call in calls] == [
            "ConnectionError: the service blinked",
            "ConnectionError: the service blinked",
            None,
        ]
        # 200 ms between attempts, on the orchestration's clock.
        assert [call.at - calls[0].at for call in calls] == [
            timedelta(0),
            timedelta(milliseconds=200),
            timedelta(milliseconds=400),
        ]
        failed = [e for e in await env.history(instance) if e["EventType"] == "TaskFailed"]
        assert failed[0]["Reason"].startswith(
            "Activity function 'Flaky' failed:  ConnectionError: the service blinked"
        )


async def test_an_event_raised_while_time_is_paused_beats_the_timeout(orchestrations: Path) -> None:
    async with DurableTestEnv(orchestrations) as env:
        async with env.paused():
            approved = await env.start("Approval", {"seconds": 3600})
            await env.wait_for(approved, "Running")
            await env.raise_event(approved, "Approve", {"by": "ada"})
        status = await env.wait_for(approved)
        # Raised as the Python client raises it: the orchestrator gets the JSON text.
        assert status.output == {"approved": '{"by": "ada"}'}

        ignored = await env.start("Approval", {"seconds": 3600})
        assert (await env.wait_for(ignored)).output == {"approved": None, "timed_out": True}


async def test_advance_moves_time_by_hand_when_automatic_jumps_are_off(
    orchestrations: Path,
) -> None:
    async with DurableTestEnv(orchestrations, start_time=T0, auto_advance=False) as env:
        instance = await env.start("Delay", {"seconds": 90})
        await env.wait_for(instance, "Running")
        await env.advance(timedelta(seconds=60))
        assert (await env.status(instance)).runtime_status == "Running"  # type: ignore[union-attr]
        assert env.now == T0 + timedelta(seconds=60)
        await env.advance(timedelta(seconds=30))
        assert (await env.wait_for(instance)).output == 90


async def test_a_wait_that_times_out_says_what_the_instance_waits_on(orchestrations: Path) -> None:
    async with DurableTestEnv(orchestrations, start_time=T0, auto_advance=False) as env:
        instance = await env.start("Delay", {"seconds": 30})
        with pytest.raises(WaitTimeout) as waited:
            await env.wait_for(instance, "Completed", within=0.2)
    message = str(waited.value)
    assert f"instance {instance!r} is Running" in message
    assert "timer 0 due 2030-01-01T00:00:30" in message
    assert "next timer due 2030-01-01T00:00:30" in message


async def test_a_non_deterministic_orchestrator_fails_the_test_at_its_first_difference(
    tmp_path: Path,
) -> None:
    app = write_app(
        tmp_path / "random",
        {
            "Lucky": (
                ORCHESTRATOR_JSON,
                "import random\n"
                "import azure.durable_functions as df\n"
                "def orchestrator(context):\n"
                "    value = yield context.call_activity('Echo', random.random())\n"
                "    return value\n"
                "main = df.Orchestrator.create(orchestrator)\n",
            ),
            "Echo": (ACTIVITY_JSON, "def main(value):\n    return value\n"),
        },
    )
    async with DurableTestEnv(app) as env:
        instance = await env.start("Lucky")
        with pytest.raises(NonDeterminismError) as failure:
            await env.wait_for(instance)
        env.failures.clear()  # leave the env cleanly; the failure was asserted
    assert "Orchestrator 'Lucky'" in str(failure.value)
    assert "actions[0].input" in str(failure.value)


async def test_the_history_has_the_real_hosts_shape(orchestrations: Path) -> None:
    async with DurableTestEnv(orchestrations) as env:
        instance = await env.start("Chain", "Ada")
        await env.wait_for(instance, "Completed")
        history = await env.history(instance)
    assert [e["EventType"] for e in history] == [
        "ExecutionStarted",
        "TaskCompleted",
        "TaskCompleted",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    assert [e.get("FunctionName") for e in history[1:4]] == ["Greet"] * 3
    assert history[3]["Result"] == "Hello Hello Hello Ada"
    assert history[-1]["OrchestrationStatus"] == "Completed"


async def test_a_restart_recovers_in_flight_work_and_reruns_what_was_not_checkpointed(
    orchestrations: Path,
) -> None:
    release = threading.Event()
    running = threading.Event()

    def pause(value: int) -> int:
        running.set()
        release.wait(10)
        return value

    async with DurableTestEnv(orchestrations, activities={"Pause": pause}) as env:
        instance = await env.start("SlowChain", 1)
        assert await asyncio.to_thread(running.wait, 10)
        await env.restart()  # the first Pause was running: its result is lost with the crash
        release.set()
        status = await env.wait_for(instance, "Completed")
        assert status.output == 11
        # Five steps, and the first one twice: cut short by the crash, then run again.
        calls = env.calls("Pause")
        assert [call.input for call in calls] == [1, 1, 2, 4, 7, 11]
        assert [call.outcome for call in calls] == ["running"] + ["succeeded"] * 5


async def test_terminate_and_suspend_resume(orchestrations: Path) -> None:
    async with DurableTestEnv(orchestrations, auto_advance=False) as env:
        stopped = await env.start("Delay", {"seconds": 60})
        await env.wait_for(stopped, "Running")
        await env.terminate(stopped, "no longer needed")
        status = await env.wait_for(stopped, "Terminated")
        assert status.output == "no longer needed"

        paused = await env.start("Delay", {"seconds": 60})
        await env.wait_for(paused, "Running")
        await env.suspend(paused, "hold on")
        await env.wait_for(paused, "Suspended")
        await env.advance(timedelta(seconds=61))
        assert (await env.status(paused)).runtime_status == "Suspended"  # type: ignore[union-attr]
        await env.resume(paused, "go on")
        # The timer fired while suspended; the orchestrator sees it on resuming, a second later.
        assert (await env.wait_for(paused, "Completed")).output == 61


async def test_http_functions_are_called_in_process(http_app: Path) -> None:
    async with DurableTestEnv(http_app, serve=False) as env:
        reply = await env.request("POST", "/api/echo/7/x?q=1", json_body={"a": 1})
        assert reply.status == 200
        received = reply.json()
        assert received["route_params"] == {"id": "7", "label": "x"}
        assert received["params"] == {"q": "1"}
        assert received["headers"]["content-type"] == "application/json"
        assert (await env.request("GET", "/api/text")).text == "just a string"
        assert (await env.request("DELETE", "/api/text")).status == 405
        assert (await env.request("GET", "/api/nowhere")).status == 404
        with pytest.raises(RuntimeError, match="serves no HTTP"):
            _ = env.base_url


ASGI_APP = """
async def web(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        return await send({"type": "lifespan.shutdown.complete"})
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": (scope["method"] + scope["path"]).encode()})
"""
WSGI_APP = """
def web(environ, start_response):
    start_response("201 Created", [])
    return [environ["REQUEST_METHOD"].encode() + environ["PATH_INFO"].encode()]
"""


@pytest.mark.parametrize(("kind", "web"), [("Asgi", ASGI_APP), ("Wsgi", WSGI_APP)])
async def test_a_web_framework_app_answers_through_the_librarys_http_function(
    tmp_path: Path, kind: str, web: str
) -> None:
    script = (
        f"import azure.functions as func\n{web}\napp = func.{kind}FunctionApp(web, 'ANONYMOUS')\n"
    )
    async with DurableTestEnv(write_v2_app(tmp_path, script), serve=False) as env:
        reply = await env.request("PUT", "/api/orders/7")
        assert (reply.status, reply.body) == (201, b"PUT/api/orders/7")


async def test_replacing_an_activity_the_app_does_not_have_is_refused(orchestrations: Path) -> None:
    with pytest.raises(ValueError, match=r"no activity of that name .*Greet"):
        async with DurableTestEnv(orchestrations, activities={"Gret": lambda value: value}):
            pass


async def test_a_v2_activity_is_replaced_by_the_name_orchestrators_call_it(tmp_path: Path) -> None:
    app = write_v2_app(
        tmp_path,
        "import azure.durable_functions as df\n\n"
        "app = df.DFApp()\n\n\n"
        "@app.orchestration_trigger(context_name='context')\n"
        "def checkout(context):\n"
        "    return (yield context.call_activity('Charge', context.get_input()))\n\n\n"
        "@app.activity_trigger(input_name='amount', activity='Charge')\n"
        "def charge_card(amount: int) -> str:\n"
        "    raise ConnectionError('the card service is down')\n",
    )
    fake = {"Charge": lambda amount: f"charged {amount}"}
    async with DurableTestEnv(app, activities=fake) as env:
        instance = await env.start("checkout", 12)
        assert (await env.wait_for(instance, "Completed")).output == "charged 12"
    with pytest.raises(ValueError, match=r"no activity of that name \(activities: Charge\)"):
        async with DurableTestEnv(app, activities={"charge_card": lambda amount: amount}):
            pass


async def test_an_app_reading_its_settings_at_import_loads_with_settings_on_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module that reads a setting as it is imported needs local.settings.json applied first,
    # and the env's own settings win over it, as the environment does for Core Tools.
    monkeypatch.delenv("GREETING", raising=False)
    monkeypatch.delenv("PUNCTUATION", raising=False)
    app = write_app(
        tmp_path / "greeting",
        {
            "Greet": (
                ACTIVITY_JSON,
                "import os\n"
                "GREETING = os.environ['GREETING'] + os.environ['PUNCTUATION']\n"
                "def main(value):\n"
                "    return f'{GREETING} {value}'\n",
            ),
            "Hello": (
                ORCHESTRATOR_JSON,
                "import azure.durable_functions as df\n"
                "def orchestrator(context):\n"
                "    return (yield context.call_activity('Greet', 'Tokyo'))\n"
                "main = df.Orchestrator.create(orchestrator)\n",
            ),
        },
    )
    values = {"GREETING": "hello", "PUNCTUATION": "."}
    (app / "local.settings.json").write_text(json.dumps({"Values": values}))
    async with DurableTestEnv(app, settings={"PUNCTUATION": "!"}) as env:
        instance = await env.start("Hello")
        status = await env.wait_for(instance, "Completed")
    assert status.output == "hello! Tokyo"
    # Neither local.settings.json nor the env's settings outlive the env.
    assert "GREETING" not in os.environ and "PUNCTUATION" not in os.environ
