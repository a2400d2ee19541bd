"""The trip's services, kept in memory: seats on flights, hotel rooms, cars at pick-up desks and
what each traveller may charge to a card. In memory, so every run starts from the same stock and
nothing survives a restart; a real app keeps these where its services keep them (the order app's
ledgers are Azure tables).

Each service keeps the contract the toolkit asks of activities, with one record per trip id:

- idempotent: a repeated reservation answers what the first one answered and takes nothing
  more; a repeated cancellation gives back nothing more;
- fenced: a cancellation that finds nothing reserved still records that it ran, so a
  reservation that arrives after it (late, or duplicated) is refused.

Answers are the toolkit's StepOutcome: `{"ok": true}`, or `{"ok": false, "reason": ...}` for a
refusal (no seat left, not enough credit), which the saga never retries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from trip_models import TripRequest

from durable_saga import StepOutcome


class State(StrEnum):
    HELD = "held"
    REFUSED = "refused"
    RELEASED = "released"
    FENCED = "fenced"  # cancelled before anything was reserved: a later reservation is refused


@dataclass
class Record:
    """What a service did for one trip."""

    item: str
    quantity: Decimal
    state: State
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.state.value,
            "item": self.item,
            "quantity": str(self.quantity),
            "reason": self.reason,
        }


class Ledger:
    """One service: its stock per item and its record per trip. The trip's `field` names the
    item; `quantity` the field of the trip it takes of it (one, when None). Calls come from
    activities on worker threads, so one lock keeps each answer whole."""

    def __init__(
        self, noun: str, field: str, stock: dict[str, Decimal], quantity: str | None = None
    ) -> None:
        self.noun = noun
        self.field = field
        self.quantity = quantity
        self.stock = dict(stock)
        self._records: dict[str, Record] = {}
        self._lock = threading.Lock()

    def reserve(self, trip: Any) -> dict[str, Any]:
        """Take the trip's item from stock, once per trip; refuse when there is not enough, or
        when the trip was cancelled here first."""
        request = TripRequest.model_validate(trip)
        item = str(getattr(request, self.field))
        wanted = Decimal(getattr(request, self.quantity)) if self.quantity else Decimal(1)
        with self._lock:
            record = self._records.get(request.tripId)
            if record is None:
                record = self._take(item, wanted)
                self._records[request.tripId] = record
            if record.state is State.HELD:
                return StepOutcome(ok=True).model_dump(mode="json")
            if record.state is State.REFUSED:
                return StepOutcome(ok=False, reason=record.reason).model_dump(mode="json")
            reason = f"trip {request.tripId} was cancelled at the {self.noun} service"
            return StepOutcome(ok=False, reason=reason).model_dump(mode="json")

    def cancel(self, trip: Any) -> dict[str, Any]:
        """Give back what the trip holds; with nothing held, leave a fence."""
        request = TripRequest.model_validate(trip)
        with self._lock:
            record = self._records.get(request.tripId)
            if record is None:
                item = str(getattr(request, self.field))
                self._records[request.tripId] = Record(item, Decimal(0), State.FENCED)
            elif record.state is State.HELD:
                self.stock[record.item] += record.quantity
                record.state = State.RELEASED
        return StepOutcome(ok=True).model_dump(mode="json")

    def record(self, trip_id: str) -> Record | None:
        with self._lock:
            return self._records.get(trip_id)

    def _take(self, item: str, wanted: Decimal) -> Record:
        left = self.stock.get(item)
        if left is None:
            return Record(item, wanted, State.REFUSED, f"no {self.noun} {item}")
        if left < wanted:
            reason = f"{self.noun} {item} has {left} left, the trip needs {wanted}"
            return Record(item, wanted, State.REFUSED, reason)
        self.stock[item] = left - wanted
        return Record(item, wanted, State.HELD)


# The stock every run starts with: the full flight UA900, the full Grand Hotel and the empty
# desk at SFO refuse every trip, and bob can charge 150.00 at most.
FLIGHTS = Ledger("flight", "flight", {"LH400": Decimal(200), "UA900": Decimal(0)})
HOTELS = Ledger("hotel", "hotel", {"HarbourInn": Decimal(50), "GrandHotel": Decimal(0)})
CARS = Ledger("car desk", "car", {"JFK": Decimal(40), "SFO": Decimal(0)})
CARDS = Ledger(
    "card", "traveller", {"alice": Decimal("5000.00"), "bob": Decimal("150.00")}, "price"
)
LEDGERS = {"flight": FLIGHTS, "hotel": HOTELS, "car": CARS, "card": CARDS}

# Destinations that ask for a visa (a table here, as the visa service would answer).
VISA_REQUIRED = frozenset({"IN", "BR", "AU"})


def check_visa(trip: Any) -> dict[str, Any]:
    """Refuse a trip to a destination that asks for a visa the trip does not name. A check
    takes nothing, so there is nothing to undo."""
    request = TripRequest.model_validate(trip)
    if request.destination in VISA_REQUIRED and request.visa is None:
        reason = f"{request.destination} asks {request.traveller} for a visa; the trip has none"
        return StepOutcome(ok=False, reason=reason).model_dump(mode="json")
    return StepOutcome(ok=True).model_dump(mode="json")


async def trip_bookings(trip_id: str, _request: TripRequest | None) -> dict[str, Any]:
    """`{"bookings": ...}`: what each service recorded for the trip (the monitor shows it beside
    the saga's own account)."""
    return {
        "bookings": {
            name: None if (record := ledger.record(trip_id)) is None else record.to_json()
            for name, ledger in LEDGERS.items()
        }
    }
