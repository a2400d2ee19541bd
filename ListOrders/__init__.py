"""GET /api/orders: one page of orders, filtered by stage, status, outcome and creation time."""

import azure.functions as func

from saga.monitor import list_orders


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await list_orders(req, client)
