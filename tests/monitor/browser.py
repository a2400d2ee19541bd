"""Debian's Chromium driven by Playwright: where it is, and how it is started.

Playwright's own browser download is not used: the tests run the distribution's Chromium
(`apt-get install chromium`, which `make browser` does where it can).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import Browser, Playwright

BROWSER_VARIABLE = "MONITOR_CHROMIUM"
ARGS = [
    "--no-sandbox",  # CI and containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """$MONITOR_CHROMIUM, else `chromium` on PATH, else None."""
    configured = os.environ.get(BROWSER_VARIABLE)
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


MISSING = (
    "Chromium is not installed: `make browser` installs Debian's with apt-get "
    f"(or set {BROWSER_VARIABLE} to a Chromium binary)"
)


def launch(playwright: Playwright, executable: str) -> Browser:
    return playwright.chromium.launch(executable_path=executable, args=ARGS, headless=True)
