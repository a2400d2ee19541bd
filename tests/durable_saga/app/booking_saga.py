"""Two declared sagas of two stages for the toolkit's tests: hold a seat and a room in parallel,
then charge the card and send a notice (which has nothing to undo). FencedBookingSaga also
compensates a step its service refused; BookingSaga leaves a refused step alone, and is shown
under /api/bookings by the toolkit's monitor, with no code of its own."""

from datetime import timedelta

from durable_saga import Column, Retries, Saga, SagaMonitor, SagaPolicy, Stage, Step

SEAT = Step("seat", "HoldSeat", "ReleaseSeat")
ROOM = Step("room", "HoldRoom", "ReleaseRoom", deadline=timedelta(seconds=30))
CARD = Step("card", "ChargeCard", "RefundCard", retries=Retries(2, timedelta(seconds=5)))
NOTICE = Step("notice", "SendNotice")
STAGES = (Stage("hold", SEAT, ROOM), Stage("pay", CARD, NOTICE))
POLICY = SagaPolicy(
    stepRetryAttempts=3,
    stepRetryIntervalMs=1000,
    compensationRetryAttempts=2,
    compensationRetryIntervalMs=3000,
    stepDeadlineSeconds=60,
)

BOOKING_SAGA = Saga("BookingSaga", *STAGES, policy=POLICY)
FENCED_BOOKING_SAGA = Saga("FencedBookingSaga", *STAGES, policy=POLICY, fence_refused=True)
BOOKING_MONITOR = SagaMonitor(
    BOOKING_SAGA,
    collection="bookings",
    id_field="bookingId",
    noun="booking",
    columns=(Column("traveller", "Traveller"),),
)
