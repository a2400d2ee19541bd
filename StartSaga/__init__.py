"""POST /api/orders: validate and price the order, then start its OrderSaga (idempotent per id)."""

import azure.durable_functions as df
import azure.functions as func

from saga.http import start_saga


async def main(req: func.HttpRequest, starter: str, context: func.Context) -> func.HttpResponse:
    return await start_saga(req, df.DurableOrchestrationClient(starter), context)
