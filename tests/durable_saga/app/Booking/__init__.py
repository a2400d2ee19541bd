"""GET /api/bookings/{bookingId}: the booking's saga, as the toolkit shows any saga."""

import azure.durable_functions as df
import azure.functions as func
from booking_saga import BOOKING_MONITOR

from durable_saga.monitor import get_saga


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await get_saga(BOOKING_MONITOR, req, df.DurableOrchestrationClient(client))
