"""Answering over HTTP, the same way for every endpoint of a saga's API.

Every answer is JSON; every refusal is the error document `{"errors": [{"field": "items.0.quantity",
"message": "..."}]}` (field "body" when the body as a whole is wrong, "" when the request is not to
blame), never a stack trace: bad input is 4xx, a service that cannot be reached is 503 (try
again), a misconfigured app 500 naming what to fix, and anything else is logged and answered 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Protocol

import azure.functions as func

from durable_saga.errors import (
    FieldError,
    Misconfigured,
    Rejected,
    ServiceUnavailable,
    UnknownSaga,
)
from durable_saga.views import InstanceSnapshot, SagaMonitor

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


class SagaClient(StatusClient, Protocol):
    """The part of `azure.durable_functions.DurableOrchestrationClient` a saga's API uses."""

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any) -> None: ...

    async def terminate(self, instance_id: str, reason: str) -> None: ...


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


def failure_response(error: Exception, doing: str) -> func.HttpResponse:
    """The answer for anything that stopped a request, logged at the level it deserves."""
    if isinstance(error, Rejected):
        return error_response(error.status, error.errors)
    if isinstance(error, Misconfigured):
        log.error("%s failed: %s", doing, error)
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            [FieldError("", f"the app is misconfigured: {error}")],
        )
    if isinstance(error, ServiceUnavailable):
        log.exception("%s failed: a service is unavailable", doing)
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            [FieldError("", f"{first_line(error)}; try again shortly")],
            {"Retry-After": RETRY_AFTER_SECONDS},
        )
    log.exception("%s failed unexpectedly", doing)
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        [FieldError("", f"{doing} failed unexpectedly ({type(error).__name__}); see the logs")],
    )


def first_line(error: Exception) -> str:
    """The first line of an error's text: Azure errors append pages of request details."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


async def saga_status(
    monitor: SagaMonitor, client: StatusClient, saga_id: str, *, show_history: bool = False
) -> Any:
    """The status of the saga, with its input (and history when asked); UnknownSaga (404) when
    there is none: an instance of another orchestration under this id is not one of these
    sagas. The host being unreachable is a 503."""
    try:
        status = await client.get_status(
            saga_id,
            show_history=show_history,
            show_history_output=show_history,
            show_input=True,
        )
    except Exception as error:
        raise ServiceUnavailable(
            f"the Durable host could not report on {monitor.noun} {saga_id!r}: {error}"
        ) from error
    if not status or status.name != monitor.saga.name:
        raise UnknownSaga([FieldError(monitor.id_field, f"no {monitor.noun} {saga_id!r}")])
    return status


def snapshot(status: Any) -> InstanceSnapshot:
    """A saga's status from the Durable client, as the views read it."""
    return InstanceSnapshot(
        runtime_status=status.runtime_status.value if status.runtime_status else "Unknown",
        input=status.input_,
        custom_status=status.custom_status,
        output=status.output,
        created_time=status.created_time,
        last_updated_time=status.last_updated_time,
    )


def without_query(url: str) -> str:
    """The URL without its query (a function key in `code=` included) or a trailing slash."""
    return url.split("?", 1)[0].rstrip("/")
