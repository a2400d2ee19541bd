"""The wheel gives another project durable_saga and durable_host: built with `python -m build`
from the packaged sources alone, installed into a fresh virtual environment outside the
repository with only its declared dependencies (and pytest), it runs the example trip app's own
tests there, from a copy of the app. pip's cache keeps the downloads quick after the first run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

PACKAGES = ("durable_saga", "durable_host")
EXAMPLE = PROJECT_ROOT / "examples" / "trip"
IGNORED = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc")
# Minutes at most on a slow index; the run takes far less with pip's cache.
STEP_TIMEOUT = 240


def run(*command: str | Path, cwd: Path | None = None) -> str:
    """Run a command with no trace of the repository on its path; its output, or a failure
    that shows it."""
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def pinned(*names: str) -> list[str]:
    """The test runners' requirements as requirements-dev.txt pins them."""
    lines = (PROJECT_ROOT / "requirements-dev.txt").read_text().splitlines()
    return [line for line in lines if re.split(r"[<>=!~ ]", line, maxsplit=1)[0] in names]


def test_the_wheel_runs_the_example_sagas_tests_in_a_fresh_environment(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", source)
    for package in PACKAGES:
        shutil.copytree(PROJECT_ROOT / package, source / package, ignore=IGNORED)
    run(sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", source)
    (wheel,) = (tmp_path / "dist").glob("*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    pytest_pins = pinned("pytest", "pytest-asyncio")
    assert len(pytest_pins) == 2, pytest_pins
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", wheel, *pytest_pins)

    app = shutil.copytree(EXAMPLE, tmp_path / "trip", ignore=IGNORED)
    found = run(
        python,
        "-c",
        "import durable_host, durable_saga, importlib.resources as r; "
        "print(durable_saga.__file__); print(durable_host.__file__); "
        "print(r.files('durable_saga.static').joinpath('index.html').is_file())",
        cwd=app,
    ).split()
    assert all(Path(path).is_relative_to(venv) for path in found[:2]), found
    assert found[2] == "True"

    report = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=app)
    # All of them ran and passed: none skipped for want of something the wheel lacks.
    assert re.search(r"\b\d+ passed\b", report), report
    assert "skipped" not in report, report
