"""RefundCard, stood in for by booking_services.answer."""

from typing import Any

from booking_services import answer

from durable_saga import saga_activity


@saga_activity
def main(booking: Any) -> dict[str, Any]:
    return answer("RefundCard", booking)
