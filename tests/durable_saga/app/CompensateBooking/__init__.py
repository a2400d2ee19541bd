"""POST /api/bookings/{bookingId}/compensation: an operator's retry or resolve."""

import azure.durable_functions as df
import azure.functions as func
from booking_saga import BOOKING_MONITOR

from durable_saga.monitor import command_compensation


async def main(req: func.HttpRequest, client: str, context: func.Context) -> func.HttpResponse:
    return await command_compensation(
        BOOKING_MONITOR, req, df.DurableOrchestrationClient(client), context
    )
