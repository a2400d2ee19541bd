"""The HTTP face of a saga's monitor and operator API, for any declared saga: the list, one saga
(with its domain's details), its timeline and payloads, terminate, the operator's retry or
resolve, and the page itself. Each takes the saga's `SagaMonitor`; a function folder's `main` is
one call into here.

Everything the page shows is read on the server, with the Durable client or the host's instance
query at the binding's rpcBaseUrl, so the browser never needs the host's system key, only the
app's own function key.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import os
from datetime import UTC, datetime
from http import HTTPStatus
from importlib import resources
from urllib.parse import unquote, urlsplit

import azure.functions as func
from opentelemetry.trace import Span

from durable_saga import tracing
from durable_saga.actions import (
    DEFAULT_TERMINATE_REASON,
    MAX_REASON_LENGTH,
    TERMINABLE,
    available_actions,
)
from durable_saga.documents import CompensationRequest, OperatorDecision, Phase
from durable_saga.errors import (
    FieldError,
    InvalidRequest,
    Misconfigured,
    NotWaiting,
    Rejected,
    ServiceUnavailable,
)
from durable_saga.http import (
    RETRY_AFTER_SECONDS,
    SagaClient,
    StatusClient,
    error_response,
    failure_response,
    json_response,
    saga_status,
    snapshot,
    without_query,
)
from durable_saga.instances import HostUnavailable, TokenRefused, query_instances, rpc_base_url
from durable_saga.listing import parse_list_query, saga_page
from durable_saga.orchestrator import OPERATOR_DECISION
from durable_saga.timeline import build_timeline, deadlines_of, timeline_json, unwrapped
from durable_saga.traces import OPERATOR_ACTION, SAGA_ID, SAGA_NAME
from durable_saga.validation import parse_body, parse_identifier
from durable_saga.views import (
    InstanceSnapshot,
    SagaMonitor,
    check_trace_viewer,
    saga_summary,
    saga_view,
)

PAGE = "index.html"
TRACE_VIEWER_SETTING = "SAGA_TRACE_URL"
STYLE_TAG = '<link rel="stylesheet" href="monitor.css">'
SCRIPT_TAG = '<script src="monitor.js"></script>'
CONFIG_SLOT = 'data-monitor="{}"'

log = logging.getLogger(__name__)


class NotTerminable(Rejected):
    status = HTTPStatus.CONFLICT


async def list_sagas(
    monitor: SagaMonitor, req: func.HttpRequest, binding: str
) -> func.HttpResponse:
    """GET /api/{collection}: one page of sagas, filtered and newest first (durable_saga.listing).
    `binding` is the durableClient binding's value, whose rpcBaseUrl serves the instance query."""
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
        return json_response(saga_page(monitor, page.instances, query, page.continuation))
    except Exception as error:
        return failure_response(error, f"listing {monitor.collection}")


async def get_saga(
    monitor: SagaMonitor, req: func.HttpRequest, client: StatusClient
) -> func.HttpResponse:
    """GET /api/{collection}/{id}: the saga's status and what its domain adds; 404 unknown."""
    try:
        saga_id = _saga_id(monitor, req)
        instance = snapshot(await saga_status(monitor, client, saga_id))
        details = {}
        if monitor.details is not None:
            details = dict(await monitor.details(saga_id, instance.saga_input(monitor.saga)))
        view = saga_view(monitor, saga_id, instance, details, trace_viewer())
        return json_response(view)
    except Exception as error:
        return failure_response(error, f"reading {monitor.a_noun}")


async def saga_timeline(
    monitor: SagaMonitor, req: func.HttpRequest, client: StatusClient
) -> func.HttpResponse:
    """GET /api/{collection}/{id}/timeline: the saga's history in lanes, and what may be done."""
    try:
        saga_id = _saga_id(monitor, req)
        # Inputs too: the host drops every event's Input without them, and an operator
        # decision's action and note, or a termination's reason, travel there.
        status = await saga_status(monitor, client, saga_id, show_history=True)
        instance = snapshot(status)
        summary = saga_summary(monitor, saga_id, instance)
        history = getattr(status, "historyEvents", None) or []
        deadlines = deadlines_of(monitor.saga, instance.saga_input(monitor.saga))
        timeline = build_timeline(
            monitor.saga, history, instance.runtime_status, datetime.now(UTC), deadlines
        )
        custom = instance.custom_status if isinstance(instance.custom_status, dict) else {}
        output = instance.output if isinstance(instance.output, dict) else {}
        actions = available_actions(monitor, saga_id, instance)
        document = {
            monitor.id_field: saga_id,
            "runtimeStatus": instance.runtime_status,
            "stage": summary["stage"],
            "outcome": summary["outcome"],
            "attention": custom.get("attention"),
            "resolution": output.get("resolution"),
            "actions": [action.to_json() for action in actions],
            "timeline": timeline_json(timeline),
        }
        if custom.get("activeStage") is not None:
            document["activeStage"] = custom["activeStage"]
        return json_response(document)
    except Exception as error:
        return failure_response(error, f"reading {monitor.a_noun}'s timeline")


async def saga_payloads(
    monitor: SagaMonitor, req: func.HttpRequest, client: StatusClient
) -> func.HttpResponse:
    """GET /api/{collection}/{id}/payloads: the saga's input, custom status and output, as
    stored."""
    try:
        saga_id = _saga_id(monitor, req)
        status = await saga_status(monitor, client, saga_id)
        return json_response(
            {
                monitor.id_field: saga_id,
                "input": unwrapped(status.input_),
                "customStatus": unwrapped(status.custom_status),
                "output": unwrapped(status.output),
            }
        )
    except Exception as error:
        return failure_response(error, f"reading {monitor.a_noun}'s payloads")


async def terminate_saga(
    monitor: SagaMonitor, req: func.HttpRequest, client: SagaClient
) -> func.HttpResponse:
    """POST /api/{collection}/{id}/termination `{"reason"?: str}`: stop a saga where it is.

    202 once the host accepted it; 409 when the saga is not Pending, Running or Suspended.
    Terminating compensates nothing: what the saga did stays done.
    """
    try:
        reason = _termination_reason(req.get_body())
        saga_id = _saga_id(monitor, req)
        status = await saga_status(monitor, client, saga_id)
        runtime_status = snapshot(status).runtime_status
        if runtime_status not in TERMINABLE:
            raise NotTerminable(
                [
                    FieldError(
                        monitor.id_field,
                        f"{monitor.noun} {saga_id!r} is {runtime_status}; nothing to stop",
                    )
                ]
            )
        try:
            await client.terminate(saga_id, reason)
        except Exception as error:
            raise ServiceUnavailable(
                f"the Durable host did not terminate {monitor.noun} {saga_id!r}: {error}"
            ) from error
        status_url = without_query(req.url).removesuffix("/termination")
        return json_response(
            {monitor.id_field: saga_id, "statusUri": status_url},
            HTTPStatus.ACCEPTED,
            {"Location": status_url},
        )
    except Exception as error:
        return failure_response(error, f"terminating {monitor.a_noun}")


async def command_compensation(
    monitor: SagaMonitor,
    req: func.HttpRequest,
    client: SagaClient,
    context: func.Context | None = None,
) -> func.HttpResponse:
    """POST /api/{collection}/{id}/compensation: an operator's decision for a saga whose
    compensation still fails. `{"action": "retry"}` runs the failed compensations again;
    `{"action": "resolve", "note": "..."}` ends the saga resolved_manually. 202 `{<id_field>,
    action, statusUri}`; 400 bad body; 404 unknown saga; 409 when the saga is not in stage
    needs_attention.

    While tracing is on, a command for a saga that has a trace is a server span in that trace,
    under the request that started the saga (linked to the caller's span when that is sampled),
    and the decision carries the span's context, so the saga's span of the decision as it
    received it is that span's child."""
    try:
        saga_id = _saga_id(monitor, req)
        command = parse_body(req.get_body(), CompensationRequest)
        instance = snapshot(await saga_status(monitor, client, saga_id))
    except Exception as error:
        return failure_response(error, "commanding a compensation")
    attributes = {
        "http.request.method": req.method,
        "url.path": urlsplit(req.url).path,
        SAGA_NAME: monitor.saga.name,
        SAGA_ID: saga_id,
        OPERATOR_ACTION: command.action,
    }
    name = f"{req.method} {_route(req, saga_id, monitor.id_field)}"
    caller = getattr(context, "trace_context", None)
    within = instance.trace_context()
    with tracing.request_span(name, caller, attributes, within) as span:
        response = await _decide(monitor, req, client, saga_id, command, instance, span)
        tracing.answered(span, response.status_code)
        return response


async def _decide(
    monitor: SagaMonitor,
    req: func.HttpRequest,
    client: SagaClient,
    saga_id: str,
    command: CompensationRequest,
    instance: InstanceSnapshot,
    span: Span | None,
) -> func.HttpResponse:
    """Hand the saga the operator's decision, if it waits for one."""
    try:
        attention = instance.operator_wait()
        if attention is None:
            progress, runtime_status = instance.progress(), instance.runtime_status
            stage = progress.stage if progress is not None else None
            raise NotWaiting(
                [
                    FieldError(
                        monitor.id_field,
                        f"{monitor.noun} {saga_id!r} is not waiting for an operator: its stage "
                        f"is {stage!r} (runtimeStatus {runtime_status}); only a saga in stage "
                        f"{Phase.NEEDS_ATTENTION.value!r} takes a compensation command",
                    )
                ]
            )
        decision = OperatorDecision(
            action=command.action,
            note=command.note,
            operatorRetries=attention.operatorRetries,
            traceContext=tracing.context_of(span),
        )
        try:
            # An untraced decision is the document it always was.
            untraced = {"traceContext"} if decision.traceContext is None else None
            event = decision.model_dump(mode="json", exclude=untraced)
            await client.raise_event(saga_id, OPERATOR_DECISION, event)
        except Exception as error:
            raise ServiceUnavailable(
                f"the Durable host did not take the decision for {saga_id!r}: {error}"
            ) from error
        status_url = without_query(req.url).removesuffix("/compensation")
        log.info(
            "%s %s: operator asked to %s its compensation", monitor.title, saga_id, command.action
        )
        return json_response(
            {monitor.id_field: saga_id, "action": command.action, "statusUri": status_url},
            HTTPStatus.ACCEPTED,
            {"Location": status_url, "Retry-After": RETRY_AFTER_SECONDS},
        )
    except Exception as error:
        return failure_response(error, "commanding a compensation")


def _route(req: func.HttpRequest, saga_id: str, id_field: str) -> str:
    """The request's path with the saga's id as its route parameter (`/api/orders/{orderId}/
    compensation`): a span's name names the route, not one saga."""
    segments = urlsplit(req.url).path.split("/")
    return "/".join(f"{{{id_field}}}" if unquote(part) == saga_id else part for part in segments)


def monitor_page(monitor: SagaMonitor, req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/monitor: the page, with its stylesheet and script inlined so that one request,
    with the function key in its URL when Azure asks for one, brings everything."""
    try:
        page, policy = assemble_page(monitor)
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


def assemble_page(monitor: SagaMonitor) -> tuple[str, str]:
    """The page (package data of durable_saga) with monitor.css and monitor.js inlined, what it
    shows of this saga in its body's data-monitor attribute, and a Content-Security-Policy that
    allows exactly those two inline blocks and requests to this app."""
    static = resources.files("durable_saga") / "static"
    page = (static / PAGE).read_text("utf-8")
    style = (static / "monitor.css").read_text("utf-8")
    script = (static / "monitor.js").read_text("utf-8")
    if (
        STYLE_TAG not in page
        or SCRIPT_TAG not in page
        or CONFIG_SLOT not in page
        or "</script" in script.lower()
    ):
        raise OSError(f"{PAGE} must link monitor.css and monitor.js as shipped")
    config = html.escape(json.dumps(monitor.page_config()), quote=True)
    page = (
        page.replace(STYLE_TAG, f"<style>{style}</style>")
        .replace(SCRIPT_TAG, f"<script>{script}</script>")
        .replace(CONFIG_SLOT, f'data-monitor="{config}"')
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


def trace_viewer() -> str | None:
    """The app setting SAGA_TRACE_URL: a trace viewer's URL template, with {traceId} where the
    trace id goes (None when unset); Misconfigured (a 500 naming it) when it is not one."""
    template = os.environ.get(TRACE_VIEWER_SETTING, "").strip()
    if not template:
        return None
    try:
        return check_trace_viewer(template)
    except ValueError as error:
        raise Misconfigured(f"{TRACE_VIEWER_SETTING}: {error}") from error


def _saga_id(monitor: SagaMonitor, req: func.HttpRequest) -> str:
    return parse_identifier(req.route_params.get(monitor.id_field, ""), monitor.id_field)


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
