"""Charge the trip's price to the traveller's card."""

from typing import Any

from trip_services import CARDS

from durable_saga import saga_activity


@saga_activity
def main(trip: dict[str, Any]) -> dict[str, Any]:
    return CARDS.reserve(trip)
