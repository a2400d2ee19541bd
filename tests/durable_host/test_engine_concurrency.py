"""EngineOptions limits: no more activities or episodes at once than configured."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from durable_host.app import FunctionApp
from durable_host.engine import Engine, EngineOptions
from durable_host.history import OrchestrationStatus
from durable_host.store import InstanceRecord
from tests.durable_host.engine_polling import poll

APP = Path(__file__).resolve().parent / "apps" / "orchestrations"


async def run_crowd(connection_string: str, options: EngineOptions) -> InstanceRecord:
    engine = await Engine.create(connection_string, options, FunctionApp.load(APP))
    await engine.start()
    try:
        await engine.start_new("Crowd", "crowd", None)
        return await poll(engine, "crowd", lambda record: record.is_terminal, limit=60)
    finally:
        await engine.stop()


def test_max_concurrent_activities_is_honoured(storage_connection_string: str) -> None:
    options = EngineOptions(
        hub_name="Conc" + uuid.uuid4().hex[:10],
        max_concurrent_activities=3,
        max_concurrent_orchestrators=2,
    )
    record = asyncio.run(run_crowd(storage_connection_string, options))
    assert record.runtime_status == OrchestrationStatus.Completed
    # Twelve 0.1 s activities overlapped, but never more than three at once.
    assert json.loads(record.output or "0") == 3
