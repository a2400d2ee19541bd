"""Refund the trip's charge (or fence a late one)."""

from typing import Any

from trip_services import CARDS


def main(trip: dict[str, Any]) -> dict[str, Any]:
    return CARDS.cancel(trip)
