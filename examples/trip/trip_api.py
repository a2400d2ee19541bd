"""POST /api/trips: start a trip's saga, with the trip id as its instance id, so that sending the
same trip again starts nothing new. The rest of the trip's API (a trip, the list, its timeline,
the operator's commands, the monitor page) is the toolkit's, in durable_saga.monitor."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Protocol

import azure.functions as func
from trip_models import TripRequest
from trip_saga import TRIP_SAGA

from durable_saga.errors import FieldError, Rejected, ServiceUnavailable
from durable_saga.http import StatusClient, failure_response, json_response, without_query
from durable_saga.validation import parse_body
from durable_saga.views import parsed


class TripClient(StatusClient, Protocol):
    """What starting a trip takes of the Durable client."""

    async def start_new(
        self, orchestration_function_name: str, instance_id: str | None, client_input: Any
    ) -> str: ...


class TripIdTaken(Rejected):
    status = HTTPStatus.CONFLICT


async def start_trip(req: func.HttpRequest, client: TripClient) -> func.HttpResponse:
    """202 `{tripId, statusUri}` (also for the same trip sent again); 400 for a bad body; 409
    when the trip id is another trip's."""
    try:
        trip = parse_body(req.get_body(), TripRequest)
        if not await _started(client, trip):
            try:
                await client.start_new(TRIP_SAGA.name, trip.tripId, trip.model_dump(mode="json"))
            except Exception as error:
                # An identical request may have started it between our read and our start.
                if not await _started(client, trip):
                    raise ServiceUnavailable(
                        f"the Durable host did not start the trip: {error}"
                    ) from error
        status_url = f"{without_query(req.url)}/{trip.tripId}"
        return json_response(
            {"tripId": trip.tripId, "statusUri": status_url},
            HTTPStatus.ACCEPTED,
            {"Location": status_url},
        )
    except Exception as error:
        return failure_response(error, "starting a trip")


async def _started(client: TripClient, trip: TripRequest) -> bool:
    """Whether this very trip was started already; TripIdTaken when its id is another's."""
    try:
        status = await client.get_status(trip.tripId, show_input=True)
    except Exception as error:
        raise ServiceUnavailable(f"the Durable host did not answer: {error}") from error
    if not status:
        return False
    if status.name != TRIP_SAGA.name or parsed(TripRequest, status.input_) != trip:
        message = f"trip {trip.tripId!r} already exists for another request; use a new trip id"
        raise TripIdTaken([FieldError("tripId", message)])
    return True
