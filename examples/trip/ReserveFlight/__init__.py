"""Reserve a seat on the trip's flight."""

from typing import Any

from trip_services import FLIGHTS

from durable_saga import saga_activity


@saga_activity
def main(trip: dict[str, Any]) -> dict[str, Any]:
    return FLIGHTS.reserve(trip)
