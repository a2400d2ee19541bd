"""GET /api/monitor: the saga monitor page (the toolkit's HTML, CSS and JavaScript), showing the
order saga."""

import azure.functions as func

from durable_saga.monitor import monitor_page
from saga.monitor import ORDER_MONITOR


def main(req: func.HttpRequest) -> func.HttpResponse:
    return monitor_page(ORDER_MONITOR, req)
