"""POST /api/trips/{tripId}/termination: stop a trip where it is."""

import azure.durable_functions as df
import azure.functions as func
from trip_saga import TRIP_MONITOR

from durable_saga.monitor import terminate_saga


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await terminate_saga(TRIP_MONITOR, req, df.DurableOrchestrationClient(client))
