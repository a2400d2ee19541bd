"""GET /api/monitor: the toolkit's monitor page, showing trips."""

import azure.functions as func
from trip_saga import TRIP_MONITOR

from durable_saga.monitor import monitor_page


def main(req: func.HttpRequest) -> func.HttpResponse:
    return monitor_page(TRIP_MONITOR, req)
