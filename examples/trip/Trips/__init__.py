"""GET /api/trips: one page of trips, filtered."""

import azure.functions as func
from trip_saga import TRIP_MONITOR

from durable_saga.monitor import list_sagas


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await list_sagas(TRIP_MONITOR, req, client)
