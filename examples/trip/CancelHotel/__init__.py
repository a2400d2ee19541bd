"""Give the trip's room back (or fence a late reservation)."""

from typing import Any

from trip_services import HOTELS

from durable_saga import saga_activity


@saga_activity
def main(trip: dict[str, Any]) -> dict[str, Any]:
    return HOTELS.cancel(trip)
