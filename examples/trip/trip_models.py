"""What a trip is: the request to book one, which is also the saga's input and what every one of
its activities receives."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from durable_saga.documents import Identifier


class TripRequest(BaseModel):
    """POST /api/trips: a flight, a hotel room and a car for one traveller, paid by card.

    `car` is the desk the car is picked up at; `visa` the traveller's visa for `destination`,
    when it asks for one. The trip id is the saga's instance id, so it is also the key each
    service records the trip under (a repeated call finds what it did the first time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tripId: Identifier
    traveller: Identifier
    destination: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166 country code")
    flight: Identifier
    hotel: Identifier
    car: Identifier
    visa: str | None = Field(default=None, min_length=1, max_length=40)
    price: Decimal = Field(gt=0, max_digits=9, decimal_places=2)
