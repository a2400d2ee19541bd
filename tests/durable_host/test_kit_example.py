"""The test kit page's worked examples run as written, so the manual stays true."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT

PAGE = PROJECT_ROOT / "docs" / "testing.md"
APP_SCRIPT = "# function_app.py\n"


def python_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert blocks, f"{PAGE} has no python example"
    return blocks


async def run_example_test(code: str) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(code, str(PAGE), "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert len(tests) == 1
    await tests[0]()


async def test_the_worked_example_of_the_test_kit_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    await run_example_test(python_blocks()[0])


async def test_the_v2_example_passes_in_its_app_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = python_blocks()
    index = next(i for i, block in enumerate(blocks) if block.startswith(APP_SCRIPT))
    (tmp_path / "function_app.py").write_text(blocks[index])
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    monkeypatch.chdir(tmp_path)
    await run_example_test(blocks[index + 1])
