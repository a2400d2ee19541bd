"""GET /api/trips/{tripId}: the trip's saga and what the services recorded."""

import azure.durable_functions as df
import azure.functions as func
from trip_saga import TRIP_MONITOR

from durable_saga.monitor import get_saga


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await get_saga(TRIP_MONITOR, req, df.DurableOrchestrationClient(client))
