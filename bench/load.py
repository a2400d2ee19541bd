"""The load every HTTP run shares: clients that start a saga, then poll its Durable status.

`concurrency` clients at a time; each starts one saga (a coroutine given the session and the index,
answering the instance id or why it could not start) and polls the built-in status endpoint every
`poll` seconds until the instance ends. durable_host answers those polls from memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp

from durable_host.history import TERMINAL_STATUSES

TERMINAL = {status.name for status in TERMINAL_STATUSES}
# How long a client polls one saga before it records it as timed out (every run's clients).
GIVE_UP_SECONDS = 300


class NotStarted(Exception):
    """The start was refused; the message is the outcome recorded for that saga."""


Start = Callable[[aiohttp.ClientSession, int], Awaitable[str]]


async def run_load(
    base_url: str, sagas: int, concurrency: int, poll: float, start: Start
) -> tuple[float, list[tuple[float, str, float]]]:
    """Elapsed seconds, and each saga's (latency, outcome, when it ended from the start)."""
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(index: int) -> tuple[float, str, float]:
            async with gate:
                began = time.perf_counter()
                try:
                    instance = await start(http, index)
                except NotStarted as refused:
                    outcome = str(refused)
                else:
                    outcome = await _until_ended(http, base_url, instance, poll)
                now = time.perf_counter()
                return now - began, outcome, now - load_began

        load_began = time.perf_counter()
        results = await asyncio.gather(*(one(index) for index in range(sagas)))
        return time.perf_counter() - load_began, list(results)


async def _until_ended(
    http: aiohttp.ClientSession, base_url: str, instance: str, poll: float
) -> str:
    url = f"{base_url}/runtime/webhooks/durabletask/instances/{instance}?showInput=false"
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < deadline:
        async with http.get(url) as response:
            status = await response.json()
        if status["runtimeStatus"] in TERMINAL:
            output = status.get("output")
            outcome = output.get("outcome") if isinstance(output, dict) else None
            return str(outcome or status["runtimeStatus"])
        await asyncio.sleep(poll)
    return "timed out"
