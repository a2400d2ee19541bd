"""GET /api/orders/{orderId}: the saga's progress or result, and what the ledgers recorded."""

import azure.durable_functions as df
import azure.functions as func

from saga.http import get_order


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await get_order(req, df.DurableOrchestrationClient(client))
