"""The monitor in Debian's Chromium, against the app on durable_host with sagas of every outcome.

Every page a test opens records console errors and uncaught exceptions; a test that leaves any
behind fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from .browser import MISSING, chromium_path, launch
from .sagas import Sagas, place_sagas

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip(MISSING)
    with sync_playwright() as playwright:
        running = launch(playwright, executable)
        yield running
        running.close()


@pytest.fixture(scope="package")
def sagas(
    browser: Browser, storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sagas]:
    """Tests may start more sagas on it (any payment stalls), but never stop these ones."""
    placed = place_sagas(storage_connection_string, tmp_path_factory.mktemp("monitor"))
    yield placed
    placed.stop()


@dataclass
class Monitor:
    """A browser tab on the monitor, and what went wrong in it."""

    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)

    def expect_console_error(self, text: str) -> None:
        """A console error the test causes on purpose (Chromium logs every 4xx a fetch gets)."""
        self.expected.append(text)

    def open(self, fragment: str = "", query: str = "") -> Page:
        self.page.goto(f"{self.base_url}/api/monitor{query}{fragment}")
        return self.page

    def record(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(text in message.text for text in self.expected):
            self.errors.append(f"console: {message.text}")


def open_monitor(browser: Browser, sagas: Sagas, viewport: dict[str, int]) -> Iterator[Monitor]:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    monitor = Monitor(page, sagas.app.running.base_url)
    page.on("console", monitor.record)
    page.on("pageerror", lambda error: monitor.errors.append(f"page error: {error}"))
    yield monitor
    context.close()
    assert monitor.errors == [], "the page reported JavaScript errors"


@pytest.fixture
def monitor(browser: Browser, sagas: Sagas) -> Iterator[Monitor]:
    yield from open_monitor(browser, sagas, DESKTOP)


@pytest.fixture
def phone(browser: Browser, sagas: Sagas) -> Iterator[Monitor]:
    yield from open_monitor(browser, sagas, PHONE)
