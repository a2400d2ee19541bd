"""The app on durable_host's test kit (`DurableTestEnv`): its HTTP functions called in-process, the
real Durable client speaking to the engine's RPC API, and ledgers in tables of each test's own in
the real Azurite. Also the function folders' modules, for the activity tests that call `main` as
the Python worker does."""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from durable_host.azurite import Azurite, Ports, connection_string, free_port
from durable_host.management import client_binding_payload
from durable_host.store import InstanceQuery
from durable_host.testing import DurableTestEnv, HttpResponse
from saga.storage import Ledgers, ledgers
from tests.conftest import PROJECT_ROOT

# Real seconds a test waits for the app to finish what it started before the env closes.
SETTLE_WITHIN = 30.0


def function(folder: str) -> ModuleType:
    """The function folder's module, imported as the worker imports it."""
    return importlib.import_module(folder)


@pytest.fixture
def ledger_settings(azurite: Azurite, unique_name: str) -> dict[str, str]:
    """The app's settings as Azure would give them, with demo data in fresh tables."""
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "SAGA_TABLE_PREFIX": unique_name,
        "SAGA_DEMO_DATA": "true",
    }


@pytest.fixture
def unreachable_storage() -> Iterator[dict[str, str]]:
    """Settings whose storage account is a loopback port where nothing listens (no ledgers
    opened before are at hand meanwhile)."""
    port = free_port()
    ledgers.cache_clear()
    yield {
        "AzureWebJobsStorage": connection_string(Ports(port, port, port)),
        "SAGA_TABLE_PREFIX": "Unreachable",
    }
    ledgers.cache_clear()


@asynccontextmanager
async def app_env(
    settings: Mapping[str, str],
    *,
    app_dir: Path = PROJECT_ROOT,
    activities: Mapping[str, Any] | None = None,
) -> AsyncIterator[DurableTestEnv]:
    """The app running on the kit with `settings`, its task hub in memory.

    The ledgers are opened afresh from the settings (they are cached per process), and the env
    closes only once nothing runs any more: an activity left running would write to the next
    test's tables."""
    ledgers.cache_clear()
    try:
        async with DurableTestEnv(
            app_dir, settings=settings, activities=activities, serve=True
        ) as env:
            try:
                yield env
            finally:
                await asyncio.wait_for(env.settle(), SETTLE_WITHIN)
    finally:
        ledgers.cache_clear()


@pytest.fixture
async def env(ledger_settings: dict[str, str]) -> AsyncIterator[DurableTestEnv]:
    async with app_env(ledger_settings) as running:
        yield running


async def post_order(env: DurableTestEnv, body: Any) -> HttpResponse:
    """POST /api/orders with a JSON body (or the bytes given), as a client sends it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await env.request(
        "POST", "/api/orders", body=raw, headers={"Content-Type": "application/json"}
    )


async def balance(env: DurableTestEnv, customer_id: str) -> str:
    """The customer's balance as GET /api/customers/{customerId} shows it."""
    answer = await env.request("GET", f"/api/customers/{customer_id}")
    assert answer.status == 200, answer.text
    value: str = answer.json()["balance"]
    return value


async def available(env: DurableTestEnv, sku: str) -> int:
    """The stock of a SKU as GET /api/inventory/{sku} shows it."""
    answer = await env.request("GET", f"/api/inventory/{sku}")
    assert answer.status == 200, answer.text
    value: int = answer.json()["available"]
    return value


async def instances(env: DurableTestEnv) -> dict[str, str]:
    """Every instance in the task hub, id -> orchestrator: what was started, by anyone."""
    records, _ = await env.engine.query(InstanceQuery(), None, None)
    return {record.instance_id: record.name for record in records}


@contextmanager
def durable_host_unreachable(env: DurableTestEnv) -> Iterator[None]:
    """Inside the block the app's durableClient binding points at a loopback port where nothing
    listens, as when the host's Durable endpoint is down; the function is the real one."""
    dead = f"http://127.0.0.1:{free_port()}"
    app, engine, live = env.host.app, env.engine, env.base_url
    app.bind_durable_client(lambda: client_binding_payload(engine, dead))
    try:
        yield
    finally:
        app.bind_durable_client(lambda: client_binding_payload(engine, live))


@contextmanager
def orchestrations_held(env: DurableTestEnv) -> Iterator[None]:
    """Hold every orchestrator episode until the block ends, as a busy host does before it gets
    to a new instance: one started inside stays Pending, and another start of it is refused."""
    released = threading.Event()
    invoker = env.engine.invoker
    run = invoker.call_orchestrator

    def held(name: str, context_json: str) -> str:
        released.wait()
        return run(name, context_json)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(invoker, "call_orchestrator", held)
        try:
            yield
        finally:
            released.set()


@contextmanager
def activity_held(env: DurableTestEnv, name: str) -> Iterator[None]:
    """Hold every call of the app's own activity `name` at its start until the block ends: the
    saga waits there, Running, with the other step done, for as long as the test looks at it."""
    released = asyncio.Event()
    invoker = env.engine.invoker
    run = invoker.run_activity

    async def held(called: str, input_text: str) -> str:
        if called.lower() == name.lower():
            await released.wait()
        return await run(called, input_text)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(invoker, "run_activity", held)
        try:
            yield
        finally:
            released.set()


@pytest.fixture
def app_ledgers(
    ledger_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Ledgers]:
    """The ledgers of `ledger_settings`, those settings in the environment as Azure gives them."""
    for name, value in ledger_settings.items():
        monkeypatch.setenv(name, value)
    ledgers.cache_clear()
    yield ledgers()
    ledgers.cache_clear()
