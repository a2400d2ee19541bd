"""POST /api/trips: start the trip's saga (idempotent per trip id)."""

import azure.durable_functions as df
import azure.functions as func
from trip_api import start_trip


async def main(req: func.HttpRequest, client: str, context: func.Context) -> func.HttpResponse:
    return await start_trip(req, df.DurableOrchestrationClient(client), context)
