"""Fixtures for calling the function folders' `main` as the Python worker would: real
`func.HttpRequest` objects, a real durableClient binding payload pointing at a local stand-in for
the host's RPC endpoint, and ledgers in the real Azurite."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest
from azure.functions.http import HttpResponseConverter

from durable_host.azurite import Azurite, Ports, connection_string, free_port
from saga.storage import Ledgers, ledgers
from tests.functions.durable_rpc_server import DurableRpcServer, EventLoopThread, durable_rpc_server

APP_URL = "http://127.0.0.1:7071"


@dataclass(frozen=True)
class Reply:
    """An HttpResponse as the worker hands it to the host: status, lower-case headers, JSON."""

    status: int
    headers: dict[str, str]
    body: Any


def reply(response: func.HttpResponse) -> Reply:
    datum = HttpResponseConverter.encode(response, expected_type=None)
    raw = datum.value["body"].value
    return Reply(
        int(datum.value["status_code"].value),
        {name.lower(): header.value for name, header in datum.value["headers"].items()},
        json.loads(raw) if raw else None,
    )


def http_request(
    method: str, path: str, *, body: bytes = b"", route_params: dict[str, str] | None = None
) -> func.HttpRequest:
    return func.HttpRequest(
        method=method,
        url=f"{APP_URL}{path}",
        headers={"Content-Type": "application/json"},
        params={},
        route_params=route_params or {},
        body=body,
    )


def function(folder: str) -> ModuleType:
    """The function folder's module, imported as the worker imports it."""
    return importlib.import_module(folder)


@pytest.fixture
def durable() -> Iterator[tuple[EventLoopThread, DurableRpcServer]]:
    with durable_rpc_server() as running:
        yield running


@pytest.fixture
def loop(durable: tuple[EventLoopThread, DurableRpcServer]) -> EventLoopThread:
    return durable[0]


@pytest.fixture
def host(durable: tuple[EventLoopThread, DurableRpcServer]) -> DurableRpcServer:
    return durable[1]


@pytest.fixture
def app_ledgers(
    azurite: Azurite, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Ledgers]:
    """The app's settings as Azure would give them, with demo data in fresh tables."""
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("SAGA_TABLE_PREFIX", unique_name)
    monkeypatch.setenv("SAGA_DEMO_DATA", "true")
    ledgers.cache_clear()
    yield ledgers()
    ledgers.cache_clear()


@pytest.fixture
def storage_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings whose storage account is a loopback port where nothing listens."""
    port = free_port()
    monkeypatch.setenv("AzureWebJobsStorage", connection_string(Ports(port, port, port)))
    monkeypatch.setenv("SAGA_TABLE_PREFIX", "Unreachable")
    ledgers.cache_clear()
    yield
    ledgers.cache_clear()
