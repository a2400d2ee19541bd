"""Waiting on what an Engine stored: poll with a deadline, and fail naming what was awaited."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from durable_host.engine import Engine
from durable_host.store import InstanceRecord


async def eventually(check: Callable[[], Awaitable[Any]], what: str, limit: float = 30.0) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `limit` s."""
    try:
        async with asyncio.timeout(limit):
            while True:
                result = await check()
                if result:
                    return result
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def poll(
    engine: Engine,
    instance_id: str,
    done: Callable[[InstanceRecord], bool],
    limit: float = 30.0,
) -> InstanceRecord:
    async def check() -> InstanceRecord | None:
        # As the status API reports it: a running instance's row in storage is written when its
        # runtime status changes, not at every episode.
        record = await engine.get_status(instance_id)
        return record if record is not None and done(record) else None

    result: InstanceRecord = await eventually(check, f"instance {instance_id}", limit)
    return result
