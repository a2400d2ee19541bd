"""POST /api/trips: start a trip's saga, with the trip id as its instance id, so that sending the
same trip again starts nothing new. The toolkit's start flow (durable_saga.starting) does it;
this says what a trip request is. The rest of the trip's API (a trip, the list, its timeline,
the operator's commands, the monitor page) is the toolkit's, in durable_saga.monitor."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import azure.functions as func
from trip_models import TripRequest
from trip_saga import TRIP_MONITOR

from durable_saga.errors import FieldError, Rejected
from durable_saga.starting import SagaStarter, StartClient, start_saga
from durable_saga.views import parsed


class TripIdTaken(Rejected):
    status = HTTPStatus.CONFLICT


def ensure_same_trip(trip: TripRequest, trip_id: str, stored: Any) -> None:
    """A trip sent again is the trip already started; TripIdTaken when its id is another's."""
    if parsed(TripRequest, stored) != trip:
        message = f"trip {trip_id!r} already exists for another request; use a new trip id"
        raise TripIdTaken([FieldError("tripId", message)])


async def trip_input(trip: TripRequest, _trip_id: str) -> TripRequest:
    """The trip is the saga's input as it was sent."""
    return trip


TRIP_STARTER = SagaStarter(
    TRIP_MONITOR,
    TripRequest,
    saga_id=lambda trip: trip.tripId,
    ensure_same=ensure_same_trip,
    saga_input=trip_input,
)


async def start_trip(
    req: func.HttpRequest, client: StartClient, context: func.Context | None = None
) -> func.HttpResponse:
    """202 `{tripId, statusUri}` (also for the same trip sent again); 400 for a bad body; 409
    when the trip id is another trip's."""
    return await start_saga(TRIP_STARTER, req, client, context)
