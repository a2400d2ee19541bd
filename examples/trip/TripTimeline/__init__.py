"""GET /api/trips/{tripId}/timeline: the trip's history in lanes."""

import azure.durable_functions as df
import azure.functions as func
from trip_saga import TRIP_MONITOR

from durable_saga.monitor import saga_timeline


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await saga_timeline(TRIP_MONITOR, req, df.DurableOrchestrationClient(client))
