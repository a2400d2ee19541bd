"""The HTTP face of the order API: placing an order, and reading a customer and a SKU. The
saga's own endpoints (an order's status, the list, the operator's commands, the monitor) are
durable_saga.monitor's, with saga.monitor.ORDER_MONITOR.

Each function folder's `main` is a one-line call into here. Answers and refusals are as every
endpoint of the toolkit gives them (durable_saga.http); table storage not answering is a 503
(try again).
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

import azure.functions as func
from azure.core.exceptions import AzureError

from durable_saga import http as toolkit
from durable_saga.errors import FieldError
from durable_saga.http import error_response, json_response
from durable_saga.starting import SagaStarter, StartClient
from durable_saga.starting import start_saga as toolkit_start
from durable_saga.validation import parse_identifier
from saga.models import OrderRequest, SagaInput
from saga.monitor import ORDER_MONITOR
from saga.settings import load_settings
from saga.starter import ensure_same_order, price_order
from saga.storage import StorageUnavailable, ledgers
from saga.views import customer_view, inventory_view


def failure_response(error: Exception, doing: str) -> func.HttpResponse:
    """The toolkit's answer, with an error of table storage counted as storage unavailable."""
    if isinstance(error, AzureError):
        error = StorageUnavailable(error)
    return toolkit.failure_response(error, doing)


async def priced_saga_input(request: OrderRequest, order_id: str) -> SagaInput:
    """The order saga's input: the order priced from the catalog (a 422 naming each unknown
    SKU), and the retry and deadline policy of the app's settings, fixed for the saga's life."""
    try:
        # Table storage calls block; keep them off the event loop the Durable client runs on.
        order = await asyncio.to_thread(lambda: price_order(ledgers().inventory, request, order_id))
    except AzureError as error:
        raise StorageUnavailable(error) from error
    return SagaInput(order=order, policy=load_settings().policy)


ORDER_STARTER = SagaStarter(
    ORDER_MONITOR,
    OrderRequest,
    saga_id=lambda request: request.orderId,
    ensure_same=ensure_same_order,
    saga_input=priced_saga_input,
)


async def start_saga(
    req: func.HttpRequest, client: StartClient, context: func.Context | None = None
) -> func.HttpResponse:
    """POST /api/orders: validate, price, and start "OrderSaga" with the order id as instance id.

    202 `{orderId, statusUri}` with `Location: statusUri` (the order's GET URL), also for a
    repeat of an order already started; 400 for a bad body, 422 for unknown SKUs, 409 when the
    order id belongs to a different order. The answer names no built-in Durable URL: on Azure
    those carry the host's system key, which callers of this API must not get. `context` is the
    invocation's, whose trace context the order's trace continues.
    """
    return await toolkit_start(ORDER_STARTER, req, client, context)


def get_customer(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/customers/{customerId}: `{customerId, balance}`; 404 when there is no wallet."""
    try:
        customer_id = parse_identifier(req.route_params.get("customerId", ""), "customerId")
        wallet = ledgers().wallets.wallet(customer_id)
        if wallet is None:
            return _not_found("customerId", f"no customer {customer_id!r}")
        return json_response(customer_view(wallet))
    except Exception as error:
        return failure_response(error, "reading a customer")


def get_inventory(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/inventory/{sku}: `{sku, unitPrice, available}`; 404 when not in the catalog."""
    try:
        sku = parse_identifier(req.route_params.get("sku", ""), "sku")
        item = ledgers().inventory.item(sku)
        if item is None:
            return _not_found("sku", f"no sku {sku!r} in the catalog")
        return json_response(inventory_view(item))
    except Exception as error:
        return failure_response(error, "reading a catalog item")


def _not_found(field: str, message: str) -> func.HttpResponse:
    return error_response(HTTPStatus.NOT_FOUND, [FieldError(field, message)])
