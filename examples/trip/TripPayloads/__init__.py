"""GET /api/trips/{tripId}/payloads: the trip's input, status and output."""

import azure.durable_functions as df
import azure.functions as func
from trip_saga import TRIP_MONITOR

from durable_saga.monitor import saga_payloads


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await saga_payloads(TRIP_MONITOR, req, df.DurableOrchestrationClient(client))
