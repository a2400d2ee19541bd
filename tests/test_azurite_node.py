"""Azurite runs on the `node` found on PATH; one that is missing or too old is refused up front,
naming the version found and the one needed. The `node` here is a small script in a temporary
folder, so the check itself is what is tested."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from durable_host.azurite import MINIMUM_NODE, Azurite, AzuriteError, check_node
from tests.conftest import PROJECT_ROOT


def path_with(folder: Path, **programs: str) -> str:
    """A PATH holding only `folder`, where each program prints the given line and exits 0."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, answer in programs.items():
        script = folder / name
        script.write_text(f"#!/bin/sh\necho '{answer}'\n")
        script.chmod(0o755)
    return str(folder)


def test_a_node_older_than_the_minimum_is_refused_naming_both_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin", node="v18.19.0"))

    with pytest.raises(AzuriteError) as caught:
        check_node()

    message = str(caught.value)
    assert "v18.19.0" in message
    assert f"Node.js {MINIMUM_NODE} or newer" in message
    assert str(tmp_path / "bin" / "node") in message


@pytest.mark.parametrize("answer", [f"v{MINIMUM_NODE}.0.0", f"v{MINIMUM_NODE + 4}.11.1"])
def test_the_minimum_and_newer_are_accepted(
    answer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin", node=answer))

    assert check_node() == answer


def test_no_node_on_path_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", path_with(tmp_path / "empty"))

    with pytest.raises(AzuriteError, match=f"no `node` is on PATH.*Node.js {MINIMUM_NODE}"):
        check_node()


def test_a_node_that_answers_no_version_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin", node="command not found"))

    with pytest.raises(AzuriteError, match=re.escape("not a Node.js version")):
        check_node()


def test_starting_azurite_with_an_old_node_fails_before_launching_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin", node="v16.20.2"))
    data = tmp_path / "data"
    emulator = Azurite(data, executable=tmp_path / "never-run-azurite")

    with pytest.raises(AzuriteError, match=re.escape("v16.20.2")):
        emulator.start()

    assert emulator.pid is None
    assert not data.exists()


def run_check(path: str) -> subprocess.CompletedProcess[str]:
    """`python -m durable_host.azurite --check-node`, as `make install` runs it."""
    return subprocess.run(
        [sys.executable, "-m", "durable_host.azurite", "--check-node"],
        cwd=PROJECT_ROOT,
        env={"PATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_make_check_fails_on_an_old_node_and_passes_on_a_new_one(tmp_path: Path) -> None:
    old = run_check(path_with(tmp_path / "old", node="v18.20.4", npm="10.8.2"))
    new = run_check(path_with(tmp_path / "new", node=f"v{MINIMUM_NODE}.1.0", npm="10.8.2"))
    no_npm = run_check(path_with(tmp_path / "no-npm", node=f"v{MINIMUM_NODE}.1.0"))

    assert old.returncode == 1
    assert "v18.20.4" in old.stderr
    assert f"Node.js {MINIMUM_NODE} or newer" in old.stderr
    assert new.returncode == 0, new.stderr
    assert no_npm.returncode == 1
    assert "npm is not" in no_npm.stderr


def test_package_json_declares_the_same_minimum_node() -> None:
    package = json.loads((PROJECT_ROOT / "package.json").read_text(encoding="utf-8"))

    assert package["engines"]["node"] == f">={MINIMUM_NODE}"
