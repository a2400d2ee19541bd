"""Give the trip's room back (or fence a late reservation)."""

from typing import Any

from trip_services import HOTELS


def main(trip: dict[str, Any]) -> dict[str, Any]:
    return HOTELS.cancel(trip)
