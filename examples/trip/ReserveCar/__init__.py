"""Reserve a car at the trip's pick-up desk."""

from typing import Any

from trip_services import CARS

from durable_saga import saga_activity


@saga_activity
def main(trip: dict[str, Any]) -> dict[str, Any]:
    return CARS.reserve(trip)
