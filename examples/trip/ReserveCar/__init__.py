"""Reserve a car at the trip's pick-up desk."""

from typing import Any

from trip_services import CARS


def main(trip: dict[str, Any]) -> dict[str, Any]:
    return CARS.reserve(trip)
