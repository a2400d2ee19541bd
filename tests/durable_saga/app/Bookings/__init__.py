"""GET /api/bookings: one page of bookings, filtered."""

import azure.functions as func
from booking_saga import BOOKING_MONITOR

from durable_saga.monitor import list_sagas


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await list_sagas(BOOKING_MONITOR, req, client)
