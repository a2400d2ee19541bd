"""The same monitor page for another saga: BookingSaga (tests/durable_saga/app), two stages, no
domain details, declared with a SagaMonitor and no page code of its own, run with
`python -m durable_host --storage memory --virtual-time` and seen in a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.app_process import AppConfig, RunningApp

from .bookings import bookings_app, monitor_tab

pytestmark = pytest.mark.monitor

BOOKINGS = {
    # Every service answers: both stages run, and the booking completes.
    "booking-ok": {},
    # The card is refused: the first stage's holds are released.
    "booking-refused": {"refuse": ["ChargeCard"]},
    # The card service is down and so is its refund: it waits for an operator.
    "booking-stuck": {"fail": ["ChargeCard", "RefundCard"]},
}


@pytest.fixture(scope="module")
def bookings(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    config = AppConfig(storage=storage_connection_string, hub_name="Bookings", table_prefix="B")
    with bookings_app(config, tmp_path_factory.mktemp("bookings"), BOOKINGS) as running:
        yield running


@pytest.fixture
def page(browser: Browser, bookings: RunningApp) -> Iterator[Page]:
    yield from monitor_tab(browser, bookings)


def test_the_list_names_bookings_and_shows_their_declared_column(page: Page) -> None:
    rows = page.locator("#orders tbody tr")
    expect(rows).to_have_count(3)
    headers = page.locator("#orders thead th").all_inner_texts()
    assert headers == ["Booking", "Traveller", "Status", "Outcome", "Stage", "Created", "Duration"]
    expect(page.locator("#find-label")).to_have_text("Find booking")
    stuck = page.locator('#orders tr[data-order="booking-stuck"] td')
    expect(stuck.nth(1)).to_have_text("alice")
    expect(stuck.nth(4)).to_have_text("needs_attention")


def test_a_booking_shows_its_stages_and_an_operator_resolves_it(page: Page) -> None:
    page.click('#orders tr[data-order="booking-stuck"] a')

    expect(page.locator("#saga-title")).to_have_text("Booking booking-stuck")
    expect(page.locator("#saga-facts")).to_contain_text("In stage")
    labels = page.locator("#timeline .lane-name")
    expect(labels).to_have_text(["Seat", "Room", "Card", "Notice", "Card rollback"])
    deadlines = page.locator("#timeline [data-mark=deadline]")
    expect(deadlines).to_have_count(2)
    expect(deadlines.first).to_contain_text("(stage hold)")
    expect(deadlines.last).to_contain_text("(stage pay)")
    # No domain details declared: no ledgers panel, the steps as the saga reports them.
    expect(page.locator("#ledgers")).to_be_hidden()
    expect(page.locator("#steps tbody tr")).to_have_count(4)
    expect(page.locator('#steps tr[data-step="card"]')).to_contain_text("compensation_failed")

    page.click('#actions button[data-action="resolve"]')
    expect(page.locator("#confirm-text")).to_contain_text("booking booking-stuck")
    page.fill("#confirm-field", "refunded by hand")
    page.click("#confirm-ok")

    expect(page.locator("#saga-facts")).to_contain_text("resolved_manually")
    expect(page.locator("#actions button")).to_have_count(0)


def test_a_refused_booking_releases_its_holds(page: Page) -> None:
    page.goto(re.sub(r"#.*$", "", page.url) + "#/bookings/booking-refused")

    expect(page.locator("#saga-title")).to_have_text("Booking booking-refused")
    for key in ("seat_rollback", "room_rollback"):
        expect(page.locator(f'#timeline [data-lane="{key}"] .bar.succeeded')).to_have_count(1)
    expect(page.locator('#timeline [data-lane="card"] .bar.refused')).to_have_count(1)
    expect(page.locator('#timeline [data-lane="card_rollback"]')).to_have_count(0)
