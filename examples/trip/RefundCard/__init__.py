"""Refund the trip's charge (or fence a late one)."""

from typing import Any

from trip_services import CARDS

from durable_saga import saga_activity


@saga_activity
def main(trip: dict[str, Any]) -> dict[str, Any]:
    return CARDS.cancel(trip)
