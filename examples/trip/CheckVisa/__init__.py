"""Check that the destination lets the traveller in (nothing to undo)."""

from typing import Any

from trip_services import check_visa

from durable_saga import saga_activity


@saga_activity
def main(trip: dict[str, Any]) -> dict[str, Any]:
    return check_visa(trip)
