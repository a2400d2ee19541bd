"""The README's worked example of the test kit runs as written, so the front door stays true."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT


def readme_example() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Testing your orchestrations", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's test kit section has no python example"
    return match.group(1)


async def test_the_readme_example_of_the_test_kit_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    namespace: dict[str, Any] = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert len(tests) == 1
    await tests[0]()
