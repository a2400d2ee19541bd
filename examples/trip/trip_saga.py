"""TripSaga, declared: reserve the flight and the hotel while the visa is checked, then the car,
then charge the card; when a step does not succeed, undo what was done, latest stage first. The
toolkit (durable_saga) runs it, reports it and shows it under /api/trips."""

from datetime import timedelta

from trip_models import TripRequest
from trip_services import trip_bookings

from durable_saga import Column, DetailsPanel, Retries, Saga, SagaMonitor, SagaPolicy, Stage, Step

TRIP_SAGA = Saga(
    "TripSaga",
    Stage(
        "reserve",
        Step("flight", "ReserveFlight", "CancelFlight"),
        Step("hotel", "ReserveHotel", "CancelHotel"),
        Step("visa", "CheckVisa"),  # a check: nothing to undo
    ),
    Stage("car", Step("car", "ReserveCar", "CancelCar", deadline=timedelta(seconds=30))),
    Stage(
        "payment",
        Step("card", "ChargeCard", "RefundCard", retries=Retries(5, timedelta(seconds=2))),
    ),
    input=TripRequest,
    # Cancel a refused reservation too: the cancellation fences a late or repeated one.
    fence_refused=True,
    policy=SagaPolicy(stepDeadlineSeconds=60, compensationRetryAttempts=5),
)

TRIP_MONITOR = SagaMonitor(
    TRIP_SAGA,
    collection="trips",
    id_field="tripId",
    noun="trip",
    columns=(
        Column("traveller", "Traveller"),
        Column("destination", "Destination"),
        Column("price", "Price", "number"),
    ),
    details=trip_bookings,
    panel=DetailsPanel(
        field="bookings",
        title="What the services recorded",
        row_header="Service",
        rows=(("flight", "Flight"), ("hotel", "Hotel"), ("car", "Car"), ("card", "Card")),
        columns=(
            Column("status", "Status", "badge"),
            Column("item", "Item"),
            Column("quantity", "Quantity", "number"),
            Column("reason", "Reason"),
        ),
    ),
    example_id="trip-2",
    kept_on_terminate="what it already reserved or charged",
)
