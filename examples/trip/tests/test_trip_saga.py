"""TripSaga on durable_host's test kit: at every failure point (the toolkit's explorer, with its
services stood in for), and end to end with its in-memory services, from POST /api/trips to what
each service recorded. Virtual time: the car's 30 s deadline and every retry take none."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from trip_saga import TRIP_SAGA
from trip_services import CARDS, CARS, FLIGHTS, HOTELS, Ledger

from durable_host.testing import DurableTestEnv
from durable_saga.testing import explore

APP = Path(__file__).resolve().parent.parent


def trip(trip_id: str, **changes: Any) -> dict[str, Any]:
    """A trip alice can take: every service has what it asks for."""
    return {
        "tripId": trip_id,
        "traveller": "alice",
        "destination": "US",
        "flight": "LH400",
        "hotel": "HarbourInn",
        "car": "JFK",
        "price": "780.00",
    } | changes


async def test_the_trip_keeps_every_invariant_at_every_failure_point() -> None:
    explored = await explore(TRIP_SAGA, APP, trip("trip-explored"), instance_id="trip-explored")

    outcomes = {str(e.point): e.outcome for e in explored}
    # One run where all succeed, three faults for each of the five steps, and a retry and a
    # resolve for each of the four compensations (the visa check has none).
    assert len(outcomes) == 1 + 5 * 3 + 4 * 2
    assert outcomes["every step succeeds"] == "completed"
    assert outcomes["visa refused"] == "compensated"
    assert outcomes["car outlasting its deadline"] == "compensated"
    assert outcomes["hotel's compensation failing, then resolved by an operator"] == (
        "resolved_manually"
    )
    # A refused visa leaves nothing to undo of its own; the flight and the hotel are cancelled.
    visa = next(e for e in explored if str(e.point) == "visa refused")
    assert sorted(c.activity for c in visa.run.calls if c.compensates) == [
        "CancelFlight",
        "CancelHotel",
    ]


async def start(env: DurableTestEnv, body: dict[str, Any]) -> dict[str, Any]:
    """POST the trip, then its saga's view once it completed (GET /api/trips/{tripId})."""
    response = await env.request("POST", "/api/trips", json_body=body)
    assert response.status == 202, response.text
    await env.wait_for(body["tripId"], "Completed")
    view = await env.request("GET", f"/api/trips/{body['tripId']}")
    assert view.status == 200, view.text
    result: dict[str, Any] = view.json()
    return result


async def test_a_trip_everyone_accepts_holds_a_seat_a_room_a_car_and_the_charge() -> None:
    seats, credit = FLIGHTS.stock["LH400"], CARDS.stock["alice"]
    async with DurableTestEnv(APP) as env:
        view = await start(env, trip("trip-ok"))

    assert view["outcome"] == "completed"
    assert {name: step["status"] for name, step in view["steps"].items()} == {
        "flight": "succeeded",
        "hotel": "succeeded",
        "visa": "succeeded",
        "car": "succeeded",
        "card": "succeeded",
    }
    assert {name: record["status"] for name, record in view["bookings"].items()} == {
        "flight": "held",
        "hotel": "held",
        "car": "held",
        "card": "held",
    }
    assert FLIGHTS.stock["LH400"] == seats - 1
    assert CARDS.stock["alice"] == credit - Decimal("780.00")


async def test_a_full_hotel_gives_the_seat_back_and_nothing_later_runs() -> None:
    seats = FLIGHTS.stock["LH400"]
    async with DurableTestEnv(APP) as env:
        view = await start(env, trip("trip-full", hotel="GrandHotel"))
        later = env.calls("ReserveCar") + env.calls("ChargeCard")

    assert view["outcome"] == "compensated"
    assert view["steps"]["hotel"] == {
        "status": "compensated",
        "reason": "rejected: hotel GrandHotel has 0 left, the trip needs 1; compensated",
    }
    assert view["bookings"]["flight"]["status"] == "released"
    # The full hotel's cancellation ran too, and left its refusal standing as the fence.
    assert view["bookings"]["hotel"]["status"] == "refused"
    assert view["bookings"]["car"] is None and view["bookings"]["card"] is None
    assert later == []
    assert FLIGHTS.stock["LH400"] == seats


async def test_a_card_that_cannot_pay_undoes_the_stages_latest_first() -> None:
    seats, rooms, cars = FLIGHTS.stock["LH400"], HOTELS.stock["HarbourInn"], CARS.stock["JFK"]
    async with DurableTestEnv(APP) as env:
        view = await start(env, trip("trip-bob", traveller="bob"))
        cancellations = [
            call.name
            for call in env.calls()
            if call.name in ("RefundCard", "CancelCar", "CancelFlight", "CancelHotel")
        ]

    assert view["outcome"] == "compensated"
    assert view["bookings"]["card"]["reason"] == "card bob has 150.00 left, the trip needs 780.00"
    assert cancellations[:2] == ["RefundCard", "CancelCar"]
    assert sorted(cancellations[2:]) == ["CancelFlight", "CancelHotel"]
    assert (FLIGHTS.stock["LH400"], HOTELS.stock["HarbourInn"], CARS.stock["JFK"]) == (
        seats,
        rooms,
        cars,
    )


async def test_the_same_trip_twice_is_one_saga_and_its_id_is_not_anothers() -> None:
    seats = FLIGHTS.stock["LH400"]
    async with DurableTestEnv(APP) as env:
        first = await env.request("POST", "/api/trips", json_body=trip("trip-twice"))
        again = await env.request("POST", "/api/trips", json_body=trip("trip-twice"))
        other = await env.request(
            "POST", "/api/trips", json_body=trip("trip-twice", traveller="bob")
        )
        bad = await env.request("POST", "/api/trips", json_body=trip("x", price="-1"))
        await env.wait_for("trip-twice", "Completed")
        trip_url = f"{env.base_url}/api/trips/trip-twice"

    assert (first.status, again.status) == (202, 202)
    assert first.json() == again.json() == {"tripId": "trip-twice", "statusUri": trip_url}
    assert first.headers["Location"] == trip_url
    assert other.status == 409
    assert other.json()["errors"][0]["field"] == "tripId"
    assert bad.status == 400
    assert bad.json()["errors"] == [{"field": "price", "message": "Input should be greater than 0"}]
    assert FLIGHTS.stock["LH400"] == seats - 1


def test_a_reservation_is_taken_once_however_often_it_arrives() -> None:
    flights = Ledger("flight", "flight", {"LH400": Decimal(2)})

    assert flights.reserve(trip("t")) == flights.reserve(trip("t")) == {"ok": True, "reason": None}
    assert flights.stock["LH400"] == 1
    flights.cancel(trip("t"))
    flights.cancel(trip("t"))
    assert flights.stock["LH400"] == 2


def test_a_reservation_that_arrives_after_its_cancellation_is_refused() -> None:
    flights = Ledger("flight", "flight", {"LH400": Decimal(2)})

    assert flights.cancel(trip("late")) == {"ok": True, "reason": None}
    assert flights.reserve(trip("late")) == {
        "ok": False,
        "reason": "trip late was cancelled at the flight service",
    }
    assert flights.stock["LH400"] == 2


async def test_the_monitor_page_shows_trips() -> None:
    async with DurableTestEnv(APP) as env:
        page = await env.request("GET", "/api/monitor")

    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "&quot;collection&quot;: &quot;trips&quot;" in page.text
