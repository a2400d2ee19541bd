"""Starting a saga over HTTP (`POST /api/{collection}`), the same way for every declared saga.

The saga's id is its instance id, so a start is idempotent: the flow reads the instance first
and answers a repeat of the same request with the same 202 without starting anything; an id
that already belongs to a different request is a 409. Between that read and the start another
request may start the same id: the host then refuses ours, and whatever holds the id now decides
the answer, as for a repeat. What differs from saga to saga is given as hooks (`SagaStarter`):
how the body reads, which id it names, whether a stored saga is the one it asks for, and how the
saga's input is made (the order prices its request first).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import azure.functions as func
from opentelemetry.trace import Span
from pydantic import BaseModel

from durable_saga import tracing
from durable_saga.documents import (
    TRACE_CONTEXT_FIELD,
    TraceContext,
    from_json_text,
    split_trace_context,
)
from durable_saga.errors import FieldError, Rejected, ServiceUnavailable
from durable_saga.http import (
    RETRY_AFTER_SECONDS,
    StatusClient,
    failure_response,
    json_response,
    without_query,
)
from durable_saga.traces import SAGA_ID, SAGA_NAME, STARTED
from durable_saga.validation import parse_body
from durable_saga.views import SagaMonitor

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)


class StartClient(StatusClient, Protocol):
    """What starting a saga takes of `azure.durable_functions.DurableOrchestrationClient`."""

    async def start_new(
        self, orchestration_function_name: str, instance_id: str | None, client_input: Any
    ) -> str: ...


class SagaIdTaken(Rejected):
    """The saga id already belongs to a different saga."""

    status = HTTPStatus.CONFLICT


@dataclass(frozen=True)
class SagaStarter(Generic[R]):
    """How one saga is started over HTTP.

    - `monitor`: the saga, what its id is called (`orderId`) and what people call one;
    - `request`: the body's model;
    - `saga_id`: the id a request names, or None for a request without one (it gets a fresh
      id, so nothing can be running under it);
    - `ensure_same`: `(request, saga id, stored input)` raises a `Rejected` (a 409) unless the
      saga stored under that id is the one this request asks for; the stored input is the JSON
      document the saga was started with, as the status API returns it;
    - `saga_input`: `(request, saga id)` -> the saga's input (a model or a JSON document); the
      place for what a start needs first, like pricing an order.
    """

    monitor: SagaMonitor
    request: type[R]
    saga_id: Callable[[R], str | None]
    ensure_same: Callable[[R, str, Any], None]
    saga_input: Callable[[R, str], Awaitable[Any]]

    @property
    def name(self) -> str:
        return self.monitor.saga.name


def new_saga_id() -> str:
    """The id for a saga whose request names none (32 hex digits, as the Durable host makes)."""
    return uuid.uuid4().hex


async def start_saga(
    starter: SagaStarter[R],
    req: func.HttpRequest,
    client: StartClient,
    context: func.Context | None = None,
) -> func.HttpResponse:
    """Start the saga a POST body asks for: 202 `{<id_field>, statusUri}` with `Location:
    statusUri` (the saga's GET URL), also for a repeat of a saga already started; 400 for a bad
    body, 409 when the id belongs to a different saga, what the `saga_input` hook raises (a 422
    for an order the catalog cannot price), 503 when the host cannot be reached.

    While tracing is on, the request is a server span (continuing the caller's trace when the
    invocation's `context.trace_context` is sampled), and a saga it starts carries that span's
    context in its input: the saga's trace is the request's. A repeat is a span linked to the
    saga it asked for."""
    path = urlsplit(req.url).path
    attributes = {"http.request.method": req.method, "url.path": path, SAGA_NAME: starter.name}
    caller = getattr(context, "trace_context", None)
    with tracing.request_span(f"{req.method} {path}", caller, attributes) as span:
        response = await _start(starter, req, client, span)
        tracing.answered(span, response.status_code)
        return response


async def _start(
    starter: SagaStarter[R], req: func.HttpRequest, client: StartClient, span: Span | None
) -> func.HttpResponse:
    monitor = starter.monitor
    try:
        request = parse_body(req.get_body(), starter.request)
        named = starter.saga_id(request)
        saga_id = named or new_saga_id()
        tracing.set_attribute(span, SAGA_ID, saga_id)
        found = None if named is None else await _stored(starter, client, request, saga_id)
        if found is None:
            saga_input = await starter.saga_input(request, saga_id)
            if isinstance(saga_input, BaseModel):
                saga_input = saga_input.model_dump(mode="json")
            trace_context = tracing.context_of(span)
            if trace_context is not None and isinstance(saga_input, dict):
                trace = trace_context.model_dump(exclude_none=True)
                saga_input = {**saga_input, TRACE_CONTEXT_FIELD: trace}
            try:
                await client.start_new(starter.name, saga_id, saga_input)
            except Exception as error:
                # Most likely an identical request won the race between our read and our start.
                log.warning(
                    "starting %s %s was refused (%s); reading it back", monitor.noun, saga_id, error
                )
                found = await _stored(starter, client, request, saga_id)
                if found is None:
                    raise ServiceUnavailable(
                        f"the Durable host did not start {monitor.noun} {saga_id!r}: {error}"
                    ) from error
        tracing.set_attribute(span, STARTED, found is None)
        if found is not None:
            tracing.link(span, found.trace_context)
        status_url = f"{without_query(req.url)}/{quote(saga_id, safe='')}"
        return json_response(
            {monitor.id_field: saga_id, "statusUri": status_url},
            HTTPStatus.ACCEPTED,
            {"Location": status_url, "Retry-After": RETRY_AFTER_SECONDS},
        )
    except Exception as error:
        return failure_response(error, f"starting {monitor.a_noun}")


@dataclass(frozen=True)
class _Stored:
    """The very saga a request asks for, found already started, and its trace context."""

    trace_context: TraceContext | None


async def _stored(
    starter: SagaStarter[R], client: StartClient, request: R, saga_id: str
) -> _Stored | None:
    """The saga this request asks for when it was started already (None when nothing holds the
    id); a Rejected (409) when the id is another's. The host being unreachable is a 503."""
    try:
        status = await client.get_status(saga_id, show_input=True)
    except Exception as error:
        raise ServiceUnavailable(
            f"the Durable host could not report on instance {saga_id!r}: {error}"
        ) from error
    if not status:
        return None
    if status.name != starter.name:
        monitor = starter.monitor
        message = f"{monitor.noun} id {saga_id!r} is already used by another instance"
        raise SagaIdTaken([FieldError(monitor.id_field, message)])
    stored, trace_context = split_trace_context(from_json_text(status.input_))
    starter.ensure_same(request, saga_id, stored)
    return _Stored(trace_context)
