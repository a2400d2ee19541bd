"""POST /api/orders/{orderId}/compensation: an operator retries or resolves a compensation."""

import azure.durable_functions as df
import azure.functions as func

from durable_saga.monitor import command_compensation
from saga.monitor import ORDER_MONITOR


async def main(req: func.HttpRequest, client: str, context: func.Context) -> func.HttpResponse:
    return await command_compensation(
        ORDER_MONITOR, req, df.DurableOrchestrationClient(client), context
    )
