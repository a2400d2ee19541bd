"""The HTTP face of the saga monitor: the list API, a saga's timeline and payloads, terminate, and
the page itself.

Like `saga.http` (whose response helpers and error policy it shares), this module speaks
azure.functions; it is kept apart so that the monitor's endpoints and the order endpoints can
change independently. Everything the page shows is read on the server, with the Durable client
or the host's instance query at the binding's rpcBaseUrl, so the browser never needs the host's
system key, only the app's own function key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Protocol

import azure.functions as func

from durable_saga.timeline import build_timeline, deadlines_of, timeline_json, unwrapped
from saga.actions import DEFAULT_TERMINATE_REASON, MAX_REASON_LENGTH, TERMINABLE, available_actions
from saga.http import (
    ServiceUnavailable,
    StatusClient,
    error_response,
    failure_response,
    json_response,
    order_status,
    snapshot,
    without_query,
)
from saga.instances import HostUnavailable, TokenRefused, query_instances, rpc_base_url
from saga.listing import order_page, parse_list_query
from saga.starter import FieldError, InvalidRequest, Rejected, parse_identifier
from saga.views import order_summary
from saga.workflow import ORDER_SAGA

PAGE = "index.html"
STYLE_TAG = '<link rel="stylesheet" href="monitor.css">'
SCRIPT_TAG = '<script src="monitor.js"></script>'


class MonitorClient(StatusClient, Protocol):
    """The part of `azure.durable_functions.DurableOrchestrationClient` the monitor uses."""

    async def terminate(self, instance_id: str, reason: str) -> None: ...


class NotTerminable(Rejected):
    status = HTTPStatus.CONFLICT


async def list_orders(req: func.HttpRequest, binding: str) -> func.HttpResponse:
    """GET /api/orders: one page of orders, filtered and newest first (see saga.listing)."""
    try:
        query = parse_list_query(req.params)
        try:
            page = await query_instances(
                rpc_base_url(binding), query.durable_parameters(), query.continuation
            )
        except TokenRefused as error:
            raise InvalidRequest(
                [FieldError("continuationToken", "is not a token this list handed out")]
            ) from error
        except HostUnavailable as error:
            raise ServiceUnavailable(str(error)) from error
        return json_response(order_page(page.instances, query, page.continuation))
    except Exception as error:
        return failure_response(error, "listing orders")


async def order_timeline(req: func.HttpRequest, client: MonitorClient) -> func.HttpResponse:
    """GET /api/orders/{orderId}/timeline: the saga's history in lanes, and what may be done."""
    try:
        # Inputs too: the host drops every event's Input without them, and an operator
        # decision's action and note, or a termination's reason, travel there.
        order_id = _order_id(req)
        status = await order_status(client, order_id, show_history=True)
        instance = snapshot(status)
        summary = order_summary(order_id, instance)
        history = getattr(status, "historyEvents", None) or []
        deadlines = deadlines_of(ORDER_SAGA, instance.saga_input())
        timeline = build_timeline(
            ORDER_SAGA, history, instance.runtime_status, datetime.now(UTC), deadlines
        )
        custom = instance.custom_status if isinstance(instance.custom_status, dict) else {}
        output = instance.output if isinstance(instance.output, dict) else {}
        actions = available_actions(order_id, instance)
        return json_response(
            {
                "orderId": order_id,
                "runtimeStatus": instance.runtime_status,
                "stage": summary["stage"],
                "outcome": summary["outcome"],
                "attention": custom.get("attention"),
                "resolution": output.get("resolution"),
                "actions": [action.to_json() for action in actions],
                "timeline": timeline_json(timeline),
            }
        )
    except Exception as error:
        return failure_response(error, "reading an order's timeline")


async def order_payloads(req: func.HttpRequest, client: MonitorClient) -> func.HttpResponse:
    """GET /api/orders/{orderId}/payloads: the saga's input, custom status and output, as stored."""
    try:
        order_id = _order_id(req)
        status = await order_status(client, order_id)
        return json_response(
            {
                "orderId": order_id,
                "input": unwrapped(status.input_),
                "customStatus": unwrapped(status.custom_status),
                "output": unwrapped(status.output),
            }
        )
    except Exception as error:
        return failure_response(error, "reading an order's payloads")


async def terminate_order(req: func.HttpRequest, client: MonitorClient) -> func.HttpResponse:
    """POST /api/orders/{orderId}/termination `{"reason"?: str}`: stop a saga where it is.

    202 once the host accepted it; 409 when the saga is not Pending, Running or Suspended.
    Terminating compensates nothing: what the saga did stays done.
    """
    try:
        reason = _termination_reason(req.get_body())
        order_id = _order_id(req)
        status = await order_status(client, order_id)
        runtime_status = snapshot(status).runtime_status
        if runtime_status not in TERMINABLE:
            raise NotTerminable(
                [FieldError("orderId", f"order {order_id!r} is {runtime_status}; nothing to stop")]
            )
        try:
            await client.terminate(order_id, reason)
        except Exception as error:
            raise ServiceUnavailable(
                f"the Durable host did not terminate order {order_id!r}: {error}"
            ) from error
        status_url = without_query(req.url).removesuffix("/termination")
        return json_response(
            {"orderId": order_id, "statusUri": status_url},
            HTTPStatus.ACCEPTED,
            {"Location": status_url},
        )
    except Exception as error:
        return failure_response(error, "terminating an order")


def monitor_page(req: func.HttpRequest, static_dir: Path) -> func.HttpResponse:
    """GET /api/monitor: the page, with its stylesheet and script inlined so that one request,
    with the function key in its URL when Azure asks for one, brings everything."""
    try:
        page, policy = assemble_page(static_dir)
    except OSError as error:
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            [FieldError("", f"the monitor's files are missing: {error}")],
        )
    return func.HttpResponse(
        page,
        status_code=HTTPStatus.OK,
        mimetype="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": policy,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


def assemble_page(static_dir: Path) -> tuple[str, str]:
    """The page with monitor.css and monitor.js inlined, and a Content-Security-Policy that
    allows exactly those two inline blocks and requests to this app."""
    page = (static_dir / PAGE).read_text("utf-8")
    style = (static_dir / "monitor.css").read_text("utf-8")
    script = (static_dir / "monitor.js").read_text("utf-8")
    if STYLE_TAG not in page or SCRIPT_TAG not in page or "</script" in script.lower():
        raise OSError(f"{static_dir / PAGE} must link monitor.css and monitor.js as shipped")
    page = page.replace(STYLE_TAG, f"<style>{style}</style>").replace(
        SCRIPT_TAG, f"<script>{script}</script>"
    )
    policy = (
        "default-src 'none'; "
        f"script-src '{_digest(script)}'; style-src '{_digest(style)}'; "
        "connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return page, policy


def _digest(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _order_id(req: func.HttpRequest) -> str:
    return parse_identifier(req.route_params.get("orderId", ""), "orderId")


def _termination_reason(body: bytes) -> str:
    """The optional `{"reason": "..."}` body; 400 for anything else."""
    if not body.strip():
        return DEFAULT_TERMINATE_REASON
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict) or set(document) - {"reason"}:
        raise InvalidRequest([FieldError("body", 'must be {"reason": "..."} or empty')])
    reason = document.get("reason", DEFAULT_TERMINATE_REASON)
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= MAX_REASON_LENGTH:
        raise InvalidRequest(
            [FieldError("reason", f"must be text of 1-{MAX_REASON_LENGTH} characters")]
        )
    return reason.strip()
