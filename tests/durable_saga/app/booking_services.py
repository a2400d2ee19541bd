"""The booking's services, stood in for: each answers that its step was done, unless the booking
names its activity in `refuse` (a business refusal) or in `fail` (it raises, as a service that is
down), so that a run over HTTP can take every path. The kit's tests replace them by name."""

from typing import Any


class ServiceDown(RuntimeError):
    """The service a booking asked to fail."""


def answer(activity: str, booking: Any) -> dict[str, Any]:
    asked = booking if isinstance(booking, dict) else {}
    if activity in asked.get("fail", ()):
        raise ServiceDown(f"{activity} is down")
    if activity in asked.get("refuse", ()):
        return {"ok": False, "reason": f"{activity} refused the booking"}
    return {"ok": True, "reason": None}
