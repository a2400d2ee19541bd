"""A traced saga's page shows its trace id, linked to the trace viewer the app setting
SAGA_TRACE_URL names: BookingSaga (tests/durable_saga/app) run with `python -m durable_host
--storage memory --virtual-time`, one booking started as the toolkit's starter starts a traced
one (its input carries the request span's context) and one started while tracing was off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.durable_saga.bookings import APP
from tests.e2e.app_process import DURABLE_HOST, AppConfig, AppLauncher, RunningApp
from tests.http_client import call, post_json, wait_for
from tests.tracing import REQUEST, TRACE_ID

from .conftest import DESKTOP, Monitor

pytestmark = pytest.mark.monitor

START_URL = "runtime/webhooks/durabletask/orchestrators/BookingSaga"
VIEWER = "https://jaeger.example/trace/{traceId}"
BOOKINGS = {
    "booking-traced": {"traceContext": REQUEST.model_dump(exclude_none=True)},
    "booking-untraced": {},
}


@pytest.fixture(scope="module")
def bookings(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    config = AppConfig(
        storage=storage_connection_string,
        hub_name="TracedBookings",
        table_prefix="TB",
        settings={"SAGA_TRACE_URL": VIEWER},
    )
    launcher = AppLauncher(
        DURABLE_HOST,
        config,
        tmp_path_factory.mktemp("traced-bookings"),
        app_dir=APP,
        options=("--storage", "memory", "--virtual-time"),
        probe="bookings",
    )
    running = launcher.start()
    try:
        for booking_id, asked in BOOKINGS.items():
            booking = {"bookingId": booking_id, "traveller": "alice", **asked}
            reply = post_json(f"{running.base_url}/{START_URL}/{booking_id}", booking)
            assert reply.status == 202, str(reply)
        for booking_id in BOOKINGS:
            wait_for(f"{booking_id} to finish", lambda b=booking_id: _finished(running, b), 30)
        yield running
    finally:
        launcher.stop_all()


def _finished(running: RunningApp, booking_id: str) -> bool | None:
    view = call("GET", running.url(f"bookings/{booking_id}")).json()
    return view.get("stage") == "finished" or None


@pytest.fixture
def page(browser: Browser, bookings: RunningApp) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    tab = Monitor(context.new_page(), bookings.base_url)
    tab.page.on("console", tab.record)
    tab.page.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
    yield tab.page
    context.close()
    assert tab.errors == [], "the page reported JavaScript errors"


def test_a_traced_saga_links_its_trace_id_to_the_viewer(page: Page, bookings: RunningApp) -> None:
    page.goto(f"{bookings.base_url}/api/monitor#/bookings/booking-traced")

    expect(page.locator("#saga-title")).to_have_text("Booking booking-traced")
    link = page.locator("#saga-facts dd a", has_text=TRACE_ID)
    expect(link).to_have_attribute("href", f"https://jaeger.example/trace/{TRACE_ID}")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    facts = page.locator("#saga-facts dt").all_inner_texts()
    assert "Trace" in facts


def test_a_saga_started_while_tracing_was_off_shows_no_trace(
    page: Page, bookings: RunningApp
) -> None:
    page.goto(f"{bookings.base_url}/api/monitor#/bookings/booking-untraced")

    expect(page.locator("#saga-title")).to_have_text("Booking booking-untraced")
    expect(page.locator("#saga-facts")).to_contain_text("finished")
    assert "Trace" not in page.locator("#saga-facts dt").all_inner_texts()
