"""POST /api/orders/{orderId}/termination: stop a saga where it is (nothing is rolled back)."""

import azure.durable_functions as df
import azure.functions as func

from durable_saga.monitor import terminate_saga
from saga.monitor import ORDER_MONITOR


async def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    return await terminate_saga(ORDER_MONITOR, req, df.DurableOrchestrationClient(client))
