"""GET /api/orders/{orderId}: the saga's progress or result, and what the ledgers recorded."""

import azure.durable_functions as df
import azure.functions as func

from durable_saga.monitor import get_saga
from saga.monitor import ORDER_MONITOR


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await get_saga(ORDER_MONITOR, req, df.DurableOrchestrationClient(client))
