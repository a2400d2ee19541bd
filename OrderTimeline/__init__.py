"""GET /api/orders/{orderId}/timeline: the saga's history in lanes, for the monitor to draw."""

import azure.durable_functions as df
import azure.functions as func

from saga.monitor import order_timeline


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await order_timeline(req, df.DurableOrchestrationClient(client))
