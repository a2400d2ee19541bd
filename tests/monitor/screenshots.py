"""The README's screenshots of the saga monitor, made the way a user would see them.

    python -m tests.monitor.screenshots        # or: make screenshots

Starts a throwaway Azurite and the app on durable_host with local.settings.json's saga settings
(as `make run` does), places the README's orders (order-1001 for alice completes, order-1002 for
bob is refused and compensated) and one saga of each other kind, then writes
docs/monitor-list.png and docs/monitor-saga.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from durable_host.azurite import Azurite
from tests.e2e.app_process import PROJECT_ROOT

from .browser import MISSING, chromium_path, launch
from .sagas import place_sagas

ORDER_IDS = {
    "completed": "order-1001",
    "refused": "order-1002",
    "retries_exhausted": "order-1003",
    "timed_out": "order-1004",
    "running": "order-1005",
    "awaiting_retry": "order-1006",
    "awaiting_resolve": "order-1007",
}
VIEWPORT = {"width": 1280, "height": 800}


def make_run_settings() -> dict[str, str]:
    """The saga settings `make run` takes from local.settings.json (storage and tables excepted)."""
    values = json.loads((PROJECT_ROOT / "local.settings.json").read_text())["Values"]
    return {
        name: str(value)
        for name, value in values.items()
        if name.startswith("SAGA_") and name not in ("SAGA_TABLE_PREFIX", "SAGA_DEMO_DATA")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs")
    out: Path = parser.parse_args(argv).out
    executable = chromium_path()
    if executable is None:
        print(MISSING, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch, Azurite(Path(scratch) / "azurite") as azurite:
        settings = make_run_settings()
        sagas = place_sagas(azurite.connection_string, Path(scratch), ORDER_IDS, settings)
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright, executable)
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(f"{sagas.app.running.base_url}/api/monitor")
                expect(page.locator("#orders tbody tr")).to_have_count(len(ORDER_IDS))
                page.screenshot(path=out / "monitor-list.png", full_page=True)
                page.goto(f"{sagas.app.running.base_url}/api/monitor#/orders/{sagas.refused}")
                expect(page.locator("#timeline .lane")).to_have_count(4)
                expect(page.locator("#ledgers tbody tr")).to_have_count(2)
                page.locator("#saga-title").blur()
                page.screenshot(path=out / "monitor-saga.png", full_page=True)
                browser.close()
        finally:
            sagas.stop()
    for name in ("monitor-list.png", "monitor-saga.png"):
        print(f"wrote {out / name} ({(out / name).stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
