"""A traced saga's page shows its trace id, linked to the trace viewer the app setting
SAGA_TRACE_URL names: BookingSaga (tests/durable_saga/app) run with `python -m durable_host
--storage memory --virtual-time`, one booking started as the toolkit's starter starts a traced
one (its input carries the request span's context) and one started while tracing was off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.app_process import AppConfig, RunningApp
from tests.tracing import REQUEST, TRACE_ID

from .bookings import bookings_app, monitor_tab

pytestmark = pytest.mark.monitor

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
    with bookings_app(config, tmp_path_factory.mktemp("traced-bookings"), BOOKINGS) as running:
        yield running


@pytest.fixture
def page(browser: Browser, bookings: RunningApp) -> Iterator[Page]:
    yield from monitor_tab(browser, bookings)


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
