"""GET /api/monitor: the toolkit's monitor page, showing bookings."""

import azure.functions as func
from booking_saga import BOOKING_MONITOR

from durable_saga.monitor import monitor_page


def main(req: func.HttpRequest) -> func.HttpResponse:
    return monitor_page(BOOKING_MONITOR, req)
