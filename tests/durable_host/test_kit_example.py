"""The test kit page's worked example runs as written, so the manual stays true."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT

PAGE = PROJECT_ROOT / "docs" / "testing.md"


def kit_example() -> str:
    match = re.search(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert match, f"{PAGE} has no python example"
    return match.group(1)


async def test_the_worked_example_of_the_test_kit_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(kit_example(), str(PAGE), "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert len(tests) == 1
    await tests[0]()
