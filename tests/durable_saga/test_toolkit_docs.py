"""The toolkit's documentation stays true: every file the README, docs/toolkit.md and the trip
app's README quote (a block after a line of the file's path, "`examples/trip/trip_saga.py`:") is
quoted as the file is, and the README's explorer example runs as written."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
TRIP_APP = PROJECT_ROOT / "examples" / "trip"
# Each page, and the folder the paths it quotes are relative to.
PAGES = (
    (README, PROJECT_ROOT),
    (PROJECT_ROOT / "docs" / "toolkit.md", PROJECT_ROOT),
    (TRIP_APP / "README.md", TRIP_APP),
)
# A quote: the file's path alone on a line, then the block.
QUOTE = re.compile(r"^`([\w./-]+\.(?:py|json))`:\n\n```\w*\n(.*?)```", re.S | re.M)


@pytest.mark.parametrize(
    ("page", "base"), PAGES, ids=[str(page.relative_to(PROJECT_ROOT)) for page, _ in PAGES]
)
def test_every_quoted_file_is_quoted_as_it_is(page: Path, base: Path) -> None:
    quotes = QUOTE.findall(page.read_text(encoding="utf-8"))

    assert quotes, f"{page} quotes no file"
    stale = [path for path, text in quotes if text not in (base / path).read_text(encoding="utf-8")]
    assert stale == [], f"{page} quotes these files as they no longer are"


async def test_the_readmes_explorer_example_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = README.read_text(encoding="utf-8")
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "explore(" in b]
    # As the example runs in the trip app's tests: from the repository root, the app's own
    # modules importable from its folder.
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setattr(sys, "path", [str(TRIP_APP), *sys.path])
    namespace: dict[str, Any] = {}
    exec(compile(example, str(README), "exec"), namespace)

    await namespace["test_the_trip_at_every_failure_point"]()
