"""Fixtures shared by every test room: one real Azurite per test session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_host.azurite import Azurite

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite on free loopback ports with a throwaway data folder, stopped after the session."""
    with Azurite(tmp_path_factory.mktemp("azurite")) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def storage_connection_string(azurite: Azurite) -> str:
    return azurite.connection_string


@pytest.fixture
def unique_name() -> str:
    """A short alphanumeric name that keeps tables and task hubs of one test apart from others'."""
    return "T" + uuid.uuid4().hex[:12]
