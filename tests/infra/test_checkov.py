"""checkov's Bicep checks over infra/, offline: nothing fails, every file parses, and every check
skipped says why beside the resource it is skipped for.

checkov lives in a venv of its own (`make test` and `make infra` create .venv-checkov from
requirements-checkov.txt). Its exit code is 0 when a file does not parse, so the tests read its
JSON report instead.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tests.infra.bicep import parse
from tests.infra.conftest import INFRA, bicep_files

CHECKOV = PROJECT_ROOT / ".venv-checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make infra` creates it")
    command = [CHECKOV, "--directory", INFRA, "--framework", "bicep", "--skip-download"]
    finished = subprocess.run(
        [*map(str, command), "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode in (0, 1), finished.stderr
    result: dict[str, Any] = json.loads(finished.stdout)
    # With nothing to check, checkov prints a bare summary instead of a report.
    assert result.get("check_type") == "bicep", f"checkov checked nothing: {result}"
    return result


def where(check: dict[str, Any]) -> str:
    first, last = check["file_line_range"]
    return f"{check['check_id']} on {check['resource']} ({check['file_path']}:{first}-{last})"


def test_every_bicep_file_parses_for_checkov(report: dict[str, Any]) -> None:
    assert report["results"]["parsing_errors"] == []
    assert report["summary"]["parsing_errors"] == 0
    declared = sum(len(parse(path).get("resources", {})) for path in bicep_files())
    assert report["summary"]["resource_count"] == declared


def test_no_check_fails(report: dict[str, Any]) -> None:
    failed = [
        f"{where(check)}: {check['check_name']}" for check in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    assert report["results"]["passed_checks"], "checkov passed no check: did it read infra/?"


def test_every_skip_says_why_inside_the_resource_it_skips(report: dict[str, Any]) -> None:
    for check in report["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "").strip()
        assert len(reason) > 20 and reason != "No comment provided", f"{where(check)}: {reason!r}"
        first, last = check["file_line_range"]
        lines = Path(check["file_abs_path"]).read_text().splitlines()[first - 1 : last]
        assert any(f"checkov:skip={check['check_id']}:" in line for line in lines), where(check)
