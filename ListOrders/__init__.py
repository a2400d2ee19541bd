"""GET /api/orders: one page of orders, filtered by stage, status, outcome and creation time."""

import azure.functions as func

from durable_saga.monitor import list_sagas
from saga.monitor import ORDER_MONITOR


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await list_sagas(ORDER_MONITOR, req, client)
