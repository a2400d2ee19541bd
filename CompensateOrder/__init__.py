"""POST /api/orders/{orderId}/compensation: an operator retries or resolves a compensation."""

import azure.durable_functions as df
import azure.functions as func

from saga.http import command_compensation


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await command_compensation(req, df.DurableOrchestrationClient(client))
