"""BookingSaga (tests/durable_saga/app) for the browser: the app served by `python -m
durable_host --storage memory --virtual-time` with some bookings placed and settled, and a tab on
its monitor that fails the test on any JavaScript error."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page

from tests.durable_saga.bookings import APP
from tests.e2e.app_process import DURABLE_HOST, AppConfig, AppLauncher, RunningApp
from tests.http_client import call, post_json, wait_for

from .conftest import DESKTOP, Monitor

START_URL = "runtime/webhooks/durabletask/orchestrators/BookingSaga"


@contextmanager
def bookings_app(
    config: AppConfig, workdir: Path, bookings: Mapping[str, Mapping[str, Any]]
) -> Iterator[RunningApp]:
    """The booking app with `config`, each booking started (its id -> what its input adds to a
    traveller) and run until it finished or waits for an operator; stopped after."""
    launcher = AppLauncher(
        DURABLE_HOST,
        config,
        workdir,
        app_dir=APP,
        options=("--storage", "memory", "--virtual-time"),
        probe="bookings",
    )
    running = launcher.start()
    try:
        for booking_id, asked in bookings.items():
            reply = post_json(
                f"{running.base_url}/{START_URL}/{booking_id}",
                {"bookingId": booking_id, "traveller": "alice", **asked},
            )
            assert reply.status == 202, str(reply)
        for booking_id in bookings:
            wait_for(f"{booking_id} to settle", lambda b=booking_id: _settled(running, b), 30)
        yield running
    finally:
        launcher.stop_all()


def _settled(running: RunningApp, booking_id: str) -> bool | None:
    view = call("GET", running.url(f"bookings/{booking_id}")).json()
    return view.get("stage") in ("finished", "needs_attention") or None


def monitor_tab(browser: Browser, running: RunningApp) -> Iterator[Page]:
    """A desktop tab with the monitor open; fails the test if the page reported an error."""
    context = browser.new_context(viewport=DESKTOP)
    tab = Monitor(context.new_page(), running.base_url)
    tab.page.on("console", tab.record)
    tab.page.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
    tab.open()
    yield tab.page
    context.close()
    assert tab.errors == [], "the page reported JavaScript errors"
