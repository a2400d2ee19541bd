"""The toolkit's two-stage test sagas (tests/durable_saga/app) on the kit, services scripted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from durable_host.testing import DurableTestEnv
from tests.scripted import Attempt, SagaRun, run_until_decided, scripted_env

APP = Path(__file__).parent / "app"
INSTANCE = "booking-1"
BOOKING = {"bookingId": INSTANCE, "traveller": "alice"}
ACTIVITIES = (
    "HoldSeat",
    "HoldRoom",
    "ChargeCard",
    "SendNotice",
    "ReleaseSeat",
    "ReleaseRoom",
    "RefundCard",
)


@asynccontextmanager
async def booking_env(**answers: Sequence[Attempt]) -> AsyncIterator[DurableTestEnv]:
    async with scripted_env(APP, ACTIVITIES, BOOKING, answers) as env:
        yield env


async def run_booking(
    saga: str = "BookingSaga", *, until_completed: bool = False, **answers: Sequence[Attempt]
) -> SagaRun:
    """Run one booking until it is decided (or, with `until_completed`, until it completes)."""
    async with booking_env(**answers) as env:
        await env.start(saga, BOOKING, INSTANCE)
        return await run_until_decided(env, INSTANCE, ACTIVITIES, until_completed=until_completed)
