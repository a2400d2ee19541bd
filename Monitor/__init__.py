"""GET /api/monitor: the saga monitor page (plain HTML, CSS and JavaScript in static/)."""

from pathlib import Path

import azure.functions as func

from saga.monitor import monitor_page

STATIC = Path(__file__).parent / "static"


def main(req: func.HttpRequest) -> func.HttpResponse:
    return monitor_page(req, STATIC)
