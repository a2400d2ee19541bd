"""The HTTP face of the saga: with saga.monitor (which shares its helpers), the only modules in
saga/ that speak azure.functions.

Each function folder's `main` is a one-line call into here. Every answer is JSON; every refusal
is the error document `{"errors": [{"field": "items.0.quantity", "message": "..."}]}` (field
"body" when the body as a whole is wrong, "" when the request is not to blame), never a stack
trace: bad input is 4xx, storage or the Durable host being unreachable is 503 (try again), and
anything else is logged and answered 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import quote

import azure.functions as func
from azure.core.exceptions import AzureError

from durable_saga import OPERATOR_DECISION
from durable_saga.documents import CompensationRequest, OperatorDecision, Phase
from saga.models import SagaInput
from saga.settings import SettingsError, load_settings
from saga.starter import (
    FieldError,
    NotWaiting,
    Rejected,
    UnknownOrder,
    ensure_same_order,
    new_order_id,
    parse_body,
    parse_identifier,
    parse_order_request,
    price_order,
)
from saga.storage import ledgers
from saga.views import InstanceSnapshot, customer_view, inventory_view, order_view
from saga.workflow import ORCHESTRATOR

RETRY_AFTER_SECONDS = "5"

log = logging.getLogger(__name__)


class StatusClient(Protocol):
    """What reading an instance's status takes of the Durable client."""

    async def get_status(
        self,
        instance_id: str,
        show_history: bool = ...,
        show_history_output: bool = ...,
        show_input: bool = ...,
    ) -> Any: ...


class OrchestrationClient(StatusClient, Protocol):
    """The part of `azure.durable_functions.DurableOrchestrationClient` these endpoints use."""

    async def start_new(
        self, orchestration_function_name: str, instance_id: str | None, client_input: Any
    ) -> str: ...

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any) -> None: ...


class ServiceUnavailable(Exception):
    """Storage or the Durable host could not be reached or refused to work; retrying may help."""


def json_response(
    payload: Any, status: int = HTTPStatus.OK, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload),
        status_code=status,
        headers=headers,
        mimetype="application/json",
        charset="utf-8",
    )


def error_response(
    status: int, errors: Sequence[FieldError], headers: dict[str, str] | None = None
) -> func.HttpResponse:
    """The error document every endpoint answers with when it does not do what was asked."""
    return json_response({"errors": [error.to_json() for error in errors]}, status, headers)


async def start_saga(req: func.HttpRequest, client: OrchestrationClient) -> func.HttpResponse:
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


async def command_compensation(
    req: func.HttpRequest, client: OrchestrationClient
) -> func.HttpResponse:
    """POST /api/orders/{orderId}/compensation: an operator's decision for a saga whose rollback
    still fails. `{"action": "retry"}` runs the failed rollbacks again; `{"action": "resolve",
    "note": "..."}` ends the saga resolved_manually. 202 `{orderId, action, statusUri}`; 400 bad
    body; 404 unknown order; 409 when the saga is not in stage needs_attention.
    """
    try:
        order_id = parse_identifier(req.route_params.get("orderId", ""), "orderId")
        command = parse_body(req.get_body(), CompensationRequest)
        instance = snapshot(await order_status(client, order_id))
        attention = instance.operator_wait()
        if attention is None:
            progress, runtime_status = instance.progress(), instance.runtime_status
            stage = progress.stage if progress is not None else None
            raise NotWaiting(
                [
                    FieldError(
                        "orderId",
                        f"order {order_id!r} is not waiting for an operator: its stage is "
                        f"{stage!r} (runtimeStatus {runtime_status}); only a saga in stage "
                        f"{Phase.NEEDS_ATTENTION.value!r} takes a compensation command",
                    )
                ]
            )
        decision = OperatorDecision(
            action=command.action,
            note=command.note,
            operatorRetries=attention.operatorRetries,
        )
        try:
            await client.raise_event(order_id, OPERATOR_DECISION, decision.model_dump(mode="json"))
        except Exception as error:
            raise ServiceUnavailable(
                f"the Durable host did not take the decision for {order_id!r}: {error}"
            ) from error
        status_url = without_query(req.url).removesuffix("/compensation")
        log.info("Order %s: operator asked to %s its compensation", order_id, command.action)
        return json_response(
            {"orderId": order_id, "action": command.action, "statusUri": status_url},
            HTTPStatus.ACCEPTED,
            {"Location": status_url, "Retry-After": RETRY_AFTER_SECONDS},
        )
    except Exception as error:
        return failure_response(error, "commanding a compensation")


async def get_order(req: func.HttpRequest, client: OrchestrationClient) -> func.HttpResponse:
    """GET /api/orders/{orderId}: the saga's status and what the ledgers recorded; 404 unknown."""
    try:
        order_id = parse_identifier(req.route_params.get("orderId", ""), "orderId")
        instance = snapshot(await order_status(client, order_id))
        saga_input = instance.saga_input()
        order_record, payment_record = None, None
        if saga_input is not None:
            order = saga_input.order
            order_record, payment_record = await asyncio.to_thread(
                lambda: (
                    ledgers().inventory.order_record(order_id),
                    ledgers().wallets.payment_record(order.customerId, order_id),
                )
            )
        return json_response(order_view(order_id, instance, order_record, payment_record))
    except Exception as error:
        return failure_response(error, "reading an order")


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


async def _status(client: OrchestrationClient, instance_id: str) -> Any:
    """The instance's status (falsy when unknown); the host being unreachable is a 503."""
    try:
        return await client.get_status(instance_id, show_input=True)
    except Exception as error:
        raise ServiceUnavailable(
            f"the Durable host could not report on instance {instance_id!r}: {error}"
        ) from error


async def order_status(client: StatusClient, order_id: str, *, show_history: bool = False) -> Any:
    """The status of the order's saga, with its input (and history when asked); UnknownOrder
    (404) when there is none: an instance of another orchestration under this id is not an
    order. The host being unreachable is a 503."""
    try:
        status = await client.get_status(
            order_id,
            show_history=show_history,
            show_history_output=show_history,
            show_input=True,
        )
    except Exception as error:
        raise ServiceUnavailable(
            f"the Durable host could not report on order {order_id!r}: {error}"
        ) from error
    if not status or status.name != ORCHESTRATOR:
        raise UnknownOrder([FieldError("orderId", f"no order {order_id!r}")])
    return status


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


def without_query(url: str) -> str:
    """The URL without its query (a function key in `code=` included) or a trailing slash."""
    return url.split("?", 1)[0].rstrip("/")


def snapshot(status: Any) -> InstanceSnapshot:
    """An OrderSaga's status from the Durable client, as the views read it."""
    return InstanceSnapshot(
        runtime_status=status.runtime_status.value if status.runtime_status else "Unknown",
        input=status.input_,
        custom_status=status.custom_status,
        output=status.output,
        created_time=status.created_time,
        last_updated_time=status.last_updated_time,
    )


def _not_found(field: str, message: str) -> func.HttpResponse:
    return error_response(HTTPStatus.NOT_FOUND, [FieldError(field, message)])


def failure_response(error: Exception, doing: str) -> func.HttpResponse:
    """The answer for anything that stopped a request, logged at the level it deserves."""
    if isinstance(error, Rejected):
        return error_response(error.status, error.errors)
    if isinstance(error, SettingsError):
        log.error("%s failed: %s", doing, error)
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            [FieldError("", f"the app is misconfigured: {error}")],
        )
    if isinstance(error, ServiceUnavailable | AzureError):
        log.exception("%s failed: a service is unavailable", doing)
        problem = _summary(error)
        if isinstance(error, AzureError):
            problem = f"table storage did not answer: {problem}"
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            [FieldError("", f"{problem}; try again shortly")],
            {"Retry-After": RETRY_AFTER_SECONDS},
        )
    log.exception("%s failed unexpectedly", doing)
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        [FieldError("", f"{doing} failed unexpectedly ({type(error).__name__}); see the logs")],
    )


def _summary(error: Exception) -> str:
    """The first line of an error's text: Azure errors append pages of request details."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
