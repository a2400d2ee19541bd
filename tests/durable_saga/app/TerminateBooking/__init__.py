"""POST /api/bookings/{bookingId}/termination: stop a booking where it is."""

import azure.durable_functions as df
import azure.functions as func
from booking_saga import BOOKING_MONITOR

from durable_saga.monitor import terminate_saga


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await terminate_saga(BOOKING_MONITOR, req, df.DurableOrchestrationClient(client))
