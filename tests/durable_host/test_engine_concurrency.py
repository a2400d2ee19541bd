"""EngineOptions limits: no more activities at once than host.json allows, and that many."""

from __future__ import annotations

import threading

from durable_host.testing import DurableTestEnv
from tests.durable_host.conftest import APPS

APP = APPS / "orchestrations"
LIMIT = 3
LIMIT_SETTING = "AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions"


async def test_max_concurrent_activities_is_honoured() -> None:
    # Crowd fans out twelve Track calls. Each waits at a barrier for LIMIT of them to run at once:
    # with fewer running together the barrier breaks, and the running count would show more.
    barrier = threading.Barrier(LIMIT, timeout=10)
    lock = threading.Lock()
    running = [0]

    def track(n: int) -> int:
        with lock:
            running[0] += 1
            seen = running[0]
        try:
            barrier.wait()
        finally:
            with lock:
                running[0] -= 1
        return seen

    async with DurableTestEnv(
        APP, activities={"Track": track}, settings={LIMIT_SETTING: str(LIMIT)}
    ) as env:
        instance = await env.start("Crowd")
        status = await env.wait_for(instance, "Completed")
    assert status.output == LIMIT
    assert [call.outcome for call in env.calls("Track")] == ["succeeded"] * 12
