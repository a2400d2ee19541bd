"""POST /api/orders/{orderId}/termination: stop a saga where it is (nothing is rolled back)."""

import azure.durable_functions as df
import azure.functions as func

from saga.monitor import terminate_order


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await terminate_order(req, df.DurableOrchestrationClient(client))
