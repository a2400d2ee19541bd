"""GET /api/orders/{orderId}/timeline: the saga's history in lanes, for the monitor to draw."""

import azure.durable_functions as df
import azure.functions as func

from durable_saga.monitor import saga_timeline
from saga.monitor import ORDER_MONITOR


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await saga_timeline(ORDER_MONITOR, req, df.DurableOrchestrationClient(client))
