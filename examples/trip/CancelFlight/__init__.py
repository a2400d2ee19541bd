"""Give the trip's seat back (or fence a late reservation)."""

from typing import Any

from trip_services import FLIGHTS

from durable_saga import saga_activity


@saga_activity
def main(trip: dict[str, Any]) -> dict[str, Any]:
    return FLIGHTS.cancel(trip)
