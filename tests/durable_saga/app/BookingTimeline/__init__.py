"""GET /api/bookings/{bookingId}/timeline: the booking's history in lanes."""

import azure.durable_functions as df
import azure.functions as func
from booking_saga import BOOKING_MONITOR

from durable_saga.monitor import saga_timeline


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await saga_timeline(BOOKING_MONITOR, req, df.DurableOrchestrationClient(client))
