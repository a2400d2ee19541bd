"""Fixtures shared by every test room: one real Azurite per test session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_host.azurite import Azurite
from durable_saga import tracing
from tests.tracing import spans

__all__ = ["spans"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def tracing_off() -> None:
    """The tests trace only where they ask to (`spans`): not because of the OTEL_* or Application
    Insights variables of the shell that runs them."""
    tracing.use(None)


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
