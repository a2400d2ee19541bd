"""The HTTP face of the order API: placing an order, and reading a customer and a SKU. The
saga's own endpoints (an order's status, the list, the operator's commands, the monitor) are
durable_saga.monitor's, with saga.monitor.ORDER_MONITOR.

Each function folder's `main` is a one-line call into here. Answers and refusals are as every
endpoint of the toolkit gives them (durable_saga.http); table storage not answering is a 503
(try again).
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import quote

import azure.functions as func
from azure.core.exceptions import AzureError

from durable_saga import http as toolkit
from durable_saga.errors import FieldError, ServiceUnavailable
from durable_saga.http import (
    RETRY_AFTER_SECONDS,
    StatusClient,
    error_response,
    first_line,
    json_response,
    without_query,
)
from durable_saga.validation import parse_identifier
from saga.models import SagaInput
from saga.settings import load_settings
from saga.starter import ensure_same_order, new_order_id, parse_order_request, price_order
from saga.storage import ledgers
from saga.views import customer_view, inventory_view
from saga.workflow import ORCHESTRATOR

log = logging.getLogger(__name__)


class OrderClient(StatusClient, Protocol):
    """The part of `azure.durable_functions.DurableOrchestrationClient` starting an order uses."""

    async def start_new(
        self, orchestration_function_name: str, instance_id: str | None, client_input: Any
    ) -> str: ...


class StorageUnavailable(ServiceUnavailable):
    """Table storage did not answer (an AzureError), said in its first line."""

    def __init__(self, error: AzureError) -> None:
        super().__init__(f"table storage did not answer: {first_line(error)}")


def failure_response(error: Exception, doing: str) -> func.HttpResponse:
    """The toolkit's answer, with an error of table storage counted as storage unavailable."""
    if isinstance(error, AzureError):
        error = StorageUnavailable(error)
    return toolkit.failure_response(error, doing)


async def start_saga(req: func.HttpRequest, client: OrderClient) -> func.HttpResponse:
    """POST /api/orders: validate, price, and start "OrderSaga" with the order id as instance id.

    202 `{orderId, statusUri}` with `Location: statusUri` (the order's GET URL), also for a
    repeat of an order already started; 400 for a bad body, 422 for unknown SKUs, 409 when the
    order id belongs to a different order. The answer names no built-in Durable URL: on Azure
    those carry the host's system key, which callers of this API must not get.
    """
    try:
        request = parse_order_request(req.get_body())
        order_id = request.orderId or new_order_id()
        if request.orderId is not None:
            existing = await _status(client, order_id)
            if existing:
                ensure_same_order(request, order_id, existing.input_)
                return _accepted(req, order_id, _order_url(req.url, order_id))
        # Table storage calls block; keep them off the event loop the Durable client runs on.
        order = await asyncio.to_thread(lambda: price_order(ledgers().inventory, request, order_id))
        saga_input = SagaInput(order=order, policy=load_settings().policy).model_dump(mode="json")
        try:
            await client.start_new(ORCHESTRATOR, order_id, saga_input)
        except Exception as error:
            # Most likely an identical request won the race between our read and our start:
            # whatever holds the id now decides the answer, as for a repeat.
            log.warning("starting order %s was refused (%s); reading it back", order_id, error)
            existing = await _status(client, order_id)
            if not existing:
                raise ServiceUnavailable(
                    f"the Durable host did not start order {order_id!r}: {error}"
                ) from error
            ensure_same_order(request, order_id, existing.input_)
        return _accepted(req, order_id, _order_url(req.url, order_id))
    except Exception as error:
        return failure_response(error, "starting an order")


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


async def _status(client: OrderClient, instance_id: str) -> Any:
    """The instance's status (falsy when unknown); the host being unreachable is a 503."""
    try:
        return await client.get_status(instance_id, show_input=True)
    except Exception as error:
        raise ServiceUnavailable(
            f"the Durable host could not report on instance {instance_id!r}: {error}"
        ) from error


def _accepted(req: func.HttpRequest, order_id: str, status_url: str) -> func.HttpResponse:
    return json_response(
        {"orderId": order_id, "statusUri": status_url},
        HTTPStatus.ACCEPTED,
        {"Location": status_url, "Retry-After": RETRY_AFTER_SECONDS},
    )


def _order_url(collection_url: str, order_id: str) -> str:
    """GET /api/orders/{orderId}, from the URL of the orders collection: the same origin and
    route prefix the caller used."""
    return f"{without_query(collection_url)}/{quote(order_id, safe='')}"


def _not_found(field: str, message: str) -> func.HttpResponse:
    return error_response(HTTPStatus.NOT_FOUND, [FieldError(field, message)])
