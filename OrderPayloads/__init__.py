"""GET /api/orders/{orderId}/payloads: the saga's input, custom status and output, on demand."""

import azure.durable_functions as df
import azure.functions as func

from saga.monitor import order_payloads


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await order_payloads(req, df.DurableOrchestrationClient(client))
