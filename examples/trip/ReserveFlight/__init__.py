"""Reserve a seat on the trip's flight."""

from typing import Any

from trip_services import FLIGHTS


def main(trip: dict[str, Any]) -> dict[str, Any]:
    return FLIGHTS.reserve(trip)
