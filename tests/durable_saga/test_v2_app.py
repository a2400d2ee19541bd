"""The toolkit in a v2 app (tests/durable_saga/app_v2/function_app.py: decorators, no function
folders): the declared orchestrator, the activity adapter and the monitor's endpoints work as in
the v1 apps, and the explorer runs it at every failure point."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from durable_host.testing import DurableTestEnv
from durable_saga.testing import explore
from tests.durable_saga.app_v2.function_app import PARCEL_SAGA
from tests.scripted import needs_attention

APP = Path(__file__).resolve().parent / "app_v2"
PARCEL = "parcel-1"


async def test_the_explorer_runs_a_v2_apps_saga_at_every_failure_point() -> None:
    explored = await explore(PARCEL_SAGA, APP, {"sender": "alice"}, instance_id=PARCEL)

    outcomes = {str(e.point): e.outcome for e in explored}
    assert outcomes["every step succeeds"] == "completed"
    assert outcomes["label failing every attempt"] == "compensated"
    assert outcomes["courier's compensation failing, then resolved by an operator"] == (
        "resolved_manually"
    )
    assert len(outcomes) == 1 + 3 * 4 + 2 * 3  # four steps, three with a compensation


async def get(env: DurableTestEnv, path: str) -> Any:
    answer = await env.request("GET", path)
    assert answer.status == 200, answer.text
    return answer.json()


async def test_a_v2_app_serves_the_monitor_and_the_operators_api_for_its_saga() -> None:
    # The charge is refused; compensating, the courier's release fails every attempt.
    parcel = {"sender": "alice", "refuse": ["Charge"], "fail": ["Release"]}
    async with DurableTestEnv(APP, serve=True) as env:
        await env.start("ParcelSaga", parcel, instance_id=PARCEL)
        await env.wait_for(PARCEL, "Running", until=needs_attention(0))

        waiting = await get(env, f"/api/parcels/{PARCEL}")
        assert (waiting["stage"], waiting["outcome"]) == ("needs_attention", "compensation_failed")
        listed = await get(env, "/api/parcels?stage=needs_attention")
        assert [row["parcelId"] for row in listed["parcels"]] == [PARCEL]

        answer = await env.request(
            "POST",
            f"/api/parcels/{PARCEL}/compensation",
            json_body={"action": "resolve", "note": "courier cancelled by phone"},
        )
        assert answer.status == 202, answer.text
        await env.wait_for(PARCEL, "Completed")
        final = await get(env, f"/api/parcels/{PARCEL}")
        page = await env.request("GET", "/api/monitor")

    assert final["outcome"] == "resolved_manually"
    assert final["steps"]["pack"]["status"] == "compensated"
    assert final["steps"]["courier"]["status"] == "compensation_failed"
    assert final["steps"]["charge"]["status"] == "rejected"  # refused, and not fenced
    assert page.status == 200
    assert re.search(r'<body data-monitor="[^"]*parcels', page.text)
