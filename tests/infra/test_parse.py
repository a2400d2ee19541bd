"""Every Bicep file of infra/ parses with pycep-parser (the checks here cannot run the Bicep CLI;
CI's `bicep build` compiles them for real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.bicep import parse
from tests.infra.conftest import INFRA, bicep_files


def test_infra_has_the_templates_azd_provisions() -> None:
    assert {path.name for path in bicep_files()} >= {"main.bicep", "app.bicep"}


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: str(path.relative_to(INFRA)))
def test_parses(path: Path) -> None:
    template = parse(path)

    assert template.get("resources") or template.get("modules"), f"{path.name} deploys nothing"
