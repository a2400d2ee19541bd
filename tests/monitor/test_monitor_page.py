"""What a person sees and does on the saga monitor, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, Request, expect

from tests.e2e.saga_client import new_id, order_body
from tests.http_client import wait_for

from .conftest import Monitor
from .sagas import Sagas

pytestmark = pytest.mark.monitor

TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def row(page: Page, order_id: str) -> Locator:
    return page.locator(f'#orders tr[data-order="{order_id}"]')


def cells(page: Page, order_id: str) -> list[str]:
    return [text.strip() for text in row(page, order_id).locator("td").all_inner_texts()]


def lane(page: Page, key: str) -> Locator:
    return page.locator(f'#timeline [data-lane="{key}"]')


def open_saga(monitor: Monitor, order_id: str) -> Page:
    page = monitor.open(f"#/orders/{order_id}")
    expect(page.locator("#saga-title")).to_have_text(f"Order {order_id}")
    expect(page.locator("#timeline .lane").first).to_be_visible()
    return page


def start_stalled_order(sagas: Sagas) -> str:
    """A saga that stays Running: the serving app stalls every payment for minutes. Returns once
    its order step answered, so the saga has lanes by the time a page first reads it (the page
    reads a saga again only every few seconds)."""
    order_id = new_id("stalled")
    assert sagas.app.start(order_body(order_id, "alice", ("SKU-RED", 1))).status == 202
    wait_for(
        f"{order_id}'s order step to answer",
        lambda: sagas.app.get_order(order_id).json().get("stage") == "step_settled" or None,
        30,
    )
    return order_id


def test_the_list_shows_each_saga_with_its_outcome_and_when_it_refreshed(
    monitor: Monitor, sagas: Sagas
) -> None:
    page = monitor.open()

    expect(row(page, sagas.running)).to_be_visible()
    expected = {
        sagas.completed: ("alice", "24.98", "Completed", "completed", "finished"),
        sagas.refused: ("bob", "100.00", "Completed", "compensated", "finished"),
        sagas.retries_exhausted: ("alice", "9.99", "Completed", "compensated", "finished"),
        sagas.timed_out: ("alice", "10.00", "Completed", "compensated", "finished"),
        # The order step answered; the stalled payment has not.
        sagas.running: ("alice", "5.00", "Running", "running", "step_settled"),
    }
    for order_id, (customer, amount, status, outcome, stage) in expected.items():
        order, *rest, created, took = cells(page, order_id)
        assert [order, *rest] == [order_id, customer, amount, status, outcome, stage]
        assert TIME.match(created), created
        assert re.match(r"^(< 1 s|\d+(\.\d)? s|\d+ min \d+ s)$", took), took
    listed = page.locator("#orders tbody tr").evaluate_all("rows => rows.map(r => r.dataset.order)")
    assert listed.index(sagas.running) < listed.index(sagas.timed_out)
    assert listed.index(sagas.timed_out) < listed.index(sagas.completed)
    expect(page.locator("#refreshed")).to_have_text(re.compile(r"^Refreshed \d\d:\d\d:\d\d$"))


def test_filters_narrow_the_list(monitor: Monitor, sagas: Sagas) -> None:
    page = monitor.open()
    expect(row(page, sagas.completed)).to_be_visible()

    page.select_option("#f-outcome", "compensated")
    expect(row(page, sagas.completed)).to_have_count(0)
    for order_id in (sagas.refused, sagas.retries_exhausted, sagas.timed_out):
        expect(row(page, order_id)).to_be_visible()
    expect(row(page, sagas.running)).to_have_count(0)

    page.select_option("#f-outcome", "")
    page.select_option("#f-status", "Running")
    expect(row(page, sagas.running)).to_be_visible()
    expect(row(page, sagas.refused)).to_have_count(0)

    page.select_option("#f-status", "")
    page.select_option("#f-stage", "finished")
    expect(row(page, sagas.completed)).to_be_visible()
    expect(row(page, sagas.running)).to_have_count(0)

    page.select_option("#f-stage", "")
    page.select_option("#f-created", "60")
    expect(row(page, sagas.running)).to_be_visible()
    page.select_option("#f-created", "custom")
    page.fill("#f-from", "2001-01-01T00:00:00")
    page.fill("#f-to", "2001-01-02T00:00:00")
    page.locator("#f-to").dispatch_event("change")
    expect(page.locator("#orders tbody tr")).to_have_count(0)
    expect(page.locator("#list-empty")).to_be_visible()


def test_load_more_follows_the_lists_continuation_token(monitor: Monitor, sagas: Sagas) -> None:
    page = monitor.open(query="?top=2")
    rows = page.locator("#orders tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#more")).to_be_visible()

    for _ in range(50):
        if page.locator("#more").is_hidden():
            break
        shown = rows.count()
        page.click("#more")
        page.wait_for_function(
            "shown => document.querySelectorAll('#orders tbody tr').length > shown"
            " || document.getElementById('more').hidden",
            arg=shown,
        )
    else:
        pytest.fail("Load more never reached the end of the list")
    listed = rows.evaluate_all("rows => rows.map(row => row.dataset.order)")
    assert len(listed) == len(set(listed))
    assert {sagas.completed, sagas.refused, sagas.timed_out, sagas.running} <= set(listed)


def test_finding_an_order_by_id_opens_it(monitor: Monitor, sagas: Sagas) -> None:
    page = monitor.open()
    monitor.expect_console_error("the server responded with a status of 404")

    page.fill("#find-id", "no-such-order")
    page.press("#find-id", "Enter")
    expect(page.locator("#find-message")).to_have_text("No order no-such-order.")

    page.fill("#find-id", sagas.refused)
    page.click("#find button[type=submit]")
    expect(page.locator("#saga-title")).to_have_text(f"Order {sagas.refused}")
    page.click("#back")
    expect(row(page, sagas.refused)).to_be_visible()


def test_a_refused_payment_and_both_compensations_on_the_timeline(
    monitor: Monitor, sagas: Sagas
) -> None:
    page = open_saga(monitor, sagas.refused)

    expect(page.locator("#timeline .lane")).to_have_count(4)
    labels = page.locator("#timeline .lane-name").all_inner_texts()
    assert labels == ["Order", "Payment", "Order rollback", "Payment rollback"]
    for key, status in [
        ("order", "succeeded"),
        ("payment", "refused"),
        ("order_rollback", "succeeded"),
        ("payment_rollback", "succeeded"),
    ]:
        bars = lane(page, key).locator(".bar")
        expect(bars).to_have_count(1)
        expect(bars).to_have_class(f"bar {status}")
    expect(lane(page, "payment").locator(".attempts li")).to_contain_text(
        "customer bob has 10.00, order " + sagas.refused + " needs 100.00"
    )
    expect(page.locator("#saga-facts")).to_contain_text("compensated")
    expect(page.locator('#ledgers tr[data-ledger="order"]')).to_contain_text("released")
    expect(page.locator('#ledgers tr[data-ledger="payment"]')).to_contain_text("rejected")
    expect(page.locator("#timeline [data-mark=deadline]")).to_contain_text("not fired")
    expect(page.locator("#actions button")).to_have_count(0)

    page.click("#payloads summary")
    expect(page.locator("#payloads-body")).to_contain_text('"customerId": "bob"')
    expect(page.locator("#payloads-body")).to_contain_text('"outcome": "compensated"')


def test_a_payment_that_kept_failing_shows_each_attempt_with_its_error(
    monitor: Monitor, sagas: Sagas
) -> None:
    page = open_saga(monitor, sagas.retries_exhausted)

    payment = lane(page, "payment")
    expect(payment.locator(".bar.failed")).to_have_count(3)
    expect(payment.locator(".attempts li.failed")).to_have_count(3)
    first = payment.locator(".attempts li.failed").first
    expect(first.locator(".detail")).to_contain_text("InjectedFault: injected transient fault")
    expect(payment.locator(".wait").first).to_be_attached()
    assert payment.locator(".wait").count() >= 2
    expect(payment.locator(".bar").first).to_have_attribute(
        "aria-label", re.compile(r"^Payment attempt 1: failed after \d+ ms — InjectedFault")
    )
    expect(lane(page, "order").locator(".bar.succeeded")).to_have_count(1)
    expect(lane(page, "order_rollback").locator(".bar.succeeded")).to_have_count(1)
    expect(lane(page, "payment_rollback").locator(".bar.succeeded")).to_have_count(1)


def test_a_step_past_its_deadline_shows_the_deadline_and_the_late_answer(
    monitor: Monitor, sagas: Sagas
) -> None:
    page = open_saga(monitor, sagas.timed_out)

    payment = lane(page, "payment")
    expect(payment.locator(".bar.late")).to_have_count(1)
    expect(payment.locator(".attempts")).to_contain_text("answered after the deadline")
    expect(page.locator("#timeline [data-mark=deadline]")).to_contain_text("fired at")
    expect(payment.locator(".deadline")).to_have_count(1)
    expect(page.locator('#steps tr[data-step="payment"]')).to_contain_text("timed_out")
    expect(page.locator('#ledgers tr[data-ledger="payment"]')).to_contain_text("fenced")


def test_terminate_is_confirmed_and_stops_the_saga(monitor: Monitor, sagas: Sagas) -> None:
    order_id = start_stalled_order(sagas)
    page = open_saga(monitor, order_id)
    expect(lane(page, "payment").locator(".bar.running")).to_have_count(1)
    terminate = page.locator('#actions button[data-action="terminate"]')

    terminate.click()
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text("nothing is rolled back")
    page.click("#confirm-cancel")
    expect(page.locator("#confirm")).to_be_hidden()
    assert sagas.app.get_order(order_id).json()["runtimeStatus"] == "Running"

    terminate.click()
    page.fill("#confirm-field", "payment provider stuck")
    page.click("#confirm-ok")

    expect(page.locator("#confirm")).to_be_hidden()
    expect(page.locator("#saga-facts")).to_contain_text("Terminated")
    expect(page.locator("#actions button")).to_have_count(0)
    expect(page.locator("#timeline [data-mark=terminated]")).to_contain_text(
        "payment provider stuck"
    )
    expect(lane(page, "payment").locator(".bar.abandoned")).to_have_count(1)
    view = sagas.app.get_order(order_id).json()
    assert (view["runtimeStatus"], view["error"]) == ("Terminated", "payment provider stuck")


def test_a_saga_waiting_for_an_operator_is_retried_from_the_page(
    monitor: Monitor, sagas: Sagas
) -> None:
    page = open_saga(monitor, sagas.awaiting_retry)
    expect(page.locator("#saga-facts")).to_contain_text("needs_attention")
    expect(lane(page, "payment_rollback").locator(".bar.failed")).to_have_count(2)
    retry = page.locator('#actions button[data-action="retry"]')
    expect(page.locator('#actions button[data-action="resolve"]')).to_be_visible()

    retry.click()
    expect(page.locator("#confirm-text")).to_contain_text("Run the failed rollbacks")
    page.click("#confirm-ok")

    expect(page.locator("#saga-facts")).to_contain_text("compensated")
    expect(lane(page, "payment_rollback").locator(".bar.succeeded")).to_have_count(1)
    expect(page.locator("#actions button")).to_have_count(0)
    view = sagas.app.get_order(sagas.awaiting_retry).json()
    assert (view["runtimeStatus"], view["outcome"], view["operatorRetries"]) == (
        "Completed",
        "compensated",
        1,
    )


def test_a_saga_waiting_for_an_operator_is_resolved_from_the_page_with_a_note(
    monitor: Monitor, sagas: Sagas
) -> None:
    page = open_saga(monitor, sagas.awaiting_resolve)
    resolve = page.locator('#actions button[data-action="resolve"]')

    resolve.click()
    expect(page.locator("#confirm-text")).to_contain_text("resolved_manually")
    page.fill("#confirm-field", "refund sent by hand, ticket 4711")
    page.click("#confirm-ok")

    expect(page.locator("#saga-facts")).to_contain_text("resolved_manually")
    expect(page.locator("#timeline")).to_contain_text("refund sent by hand, ticket 4711")
    view = sagas.app.get_order(sagas.awaiting_resolve).json()
    assert view["outcome"] == "resolved_manually"
    assert view["resolution"]["note"] == "refund sent by hand, ticket 4711"
    # What the failed rollback left is still there for the ledgers to show.
    assert view["ledgers"]["payment"]["status"] == "rejected"


def test_the_list_refreshes_itself_until_paused(monitor: Monitor, sagas: Sagas) -> None:
    page = monitor.page
    page.clock.install()
    page = monitor.open()
    expect(row(page, sagas.running)).to_be_visible()
    list_requests: list[str] = []
    page.on("request", lambda request: _note_list_request(request, list_requests))

    fresh = start_stalled_order(sagas)
    page.clock.run_for(6_000)
    expect(row(page, fresh)).to_be_visible()

    page.click("#pause")
    expect(page.locator("#pause")).to_have_text("Resume")
    expect(page.locator("#pause")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#refreshed")).to_contain_text("paused")
    asked_before_pause = len(list_requests)
    later = start_stalled_order(sagas)
    page.clock.run_for(30_000)
    with page.expect_response(lambda response: "/api/orders?" in response.url):
        page.click("#refresh-now")
    expect(row(page, later)).to_be_visible()
    # Only the request of "Refresh now": the paused timer asked for nothing.
    assert len(list_requests) == asked_before_pause + 1, list_requests


def _note_list_request(request: Request, seen: list[str]) -> None:
    if "/api/orders?" in request.url:
        seen.append(request.url)


def test_with_a_function_key_every_request_of_the_page_sends_it(
    monitor: Monitor, sagas: Sagas
) -> None:
    sent: list[tuple[str, str | None]] = []
    monitor.page.on(
        "request",
        lambda request: sent.append((request.url, request.headers.get("x-functions-key"))),
    )

    page = monitor.open(f"#/orders/{sagas.refused}", query="?code=the-function-key")
    expect(page.locator("#timeline .lane")).to_have_count(4)
    page.click("#back")
    expect(row(page, sagas.refused)).to_be_visible()

    fetched = [(url, key) for url, key in sent if "/api/orders" in url]
    assert {url.split("/api/")[1].split("?")[0] for url, _ in fetched} >= {
        f"orders/{sagas.refused}",
        f"orders/{sagas.refused}/timeline",
        "orders",
    }
    assert all(key == "the-function-key" for _, key in fetched), fetched


def test_the_keyboard_reaches_the_list_a_saga_and_its_attempts(
    monitor: Monitor, sagas: Sagas
) -> None:
    page = monitor.open()
    link = row(page, sagas.refused).locator("a")
    expect(link).to_be_visible()

    for _ in range(60):
        page.keyboard.press("Tab")
        if link.evaluate("node => node === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the order's link")
    page.keyboard.press("Enter")
    expect(page.locator("#saga-title")).to_be_focused()
    expect(page.locator("#timeline .bar").first).to_be_visible()

    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('bar')"):
            break
    else:
        pytest.fail("Tab never reached an attempt's bar")
    label = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert label.startswith("Order attempt 1: succeeded"), label


@pytest.mark.parametrize("viewport", ["monitor", "phone"])
def test_no_sideways_scrolling_on_a_laptop_or_a_phone(
    request: pytest.FixtureRequest, sagas: Sagas, viewport: str
) -> None:
    tab: Monitor = request.getfixturevalue(viewport)
    page = tab.open()
    expect(row(page, sagas.refused)).to_be_visible()
    width = page.viewport_size["width"] if page.viewport_size else 0

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    open_saga(tab, sagas.retries_exhausted)
    assert page.evaluate("document.documentElement.scrollWidth") <= width


CONTRAST = """
() => {
  const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const [R, G, B] = [r, g, b].map((c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * R + 0.7152 * G + 0.0722 * B;
  };
  const background = (node) => {
    for (; node; node = node.parentElement) {
      const colour = rgb(getComputedStyle(node).backgroundColor);
      if (colour.length < 4 || colour[3] > 0) return colour.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  const texts = document.querySelectorAll(
    "td, th, caption, .badge, .lane-name, .lane-kind, .attempts li, .detail, button, label, " +
    "#refreshed, .events li, a");
  for (const node of texts) {
    if (!node.offsetParent || !node.textContent.trim()) continue;
    const fg = luminance(rgb(getComputedStyle(node).color));
    const bg = luminance(background(node));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) worst.push(`${node.className || node.tagName}: ${ratio.toFixed(2)}`);
  }
  return worst;
}
"""


def test_text_keeps_a_contrast_of_at_least_4_5_to_1(monitor: Monitor, sagas: Sagas) -> None:
    page = monitor.open()
    expect(row(page, sagas.running)).to_be_visible()
    assert page.evaluate(CONTRAST) == []

    open_saga(monitor, sagas.retries_exhausted)
    assert page.evaluate(CONTRAST) == []
