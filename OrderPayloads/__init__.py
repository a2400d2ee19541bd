"""GET /api/orders/{orderId}/payloads: the saga's input, custom status and output, on demand."""

import azure.durable_functions as df
import azure.functions as func

from durable_saga.monitor import saga_payloads
from saga.monitor import ORDER_MONITOR


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await saga_payloads(ORDER_MONITOR, req, df.DurableOrchestrationClient(client))
