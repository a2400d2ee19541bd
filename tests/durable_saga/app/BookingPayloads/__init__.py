"""GET /api/bookings/{bookingId}/payloads: the booking's input, status and output."""

import azure.durable_functions as df
import azure.functions as func
from booking_saga import BOOKING_MONITOR

from durable_saga.monitor import saga_payloads


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await saga_payloads(BOOKING_MONITOR, req, df.DurableOrchestrationClient(client))
