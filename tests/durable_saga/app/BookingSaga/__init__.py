"""The BookingSaga orchestrator: the declaration in booking_saga, run by the toolkit."""

import azure.durable_functions as df
from booking_saga import BOOKING_SAGA

from durable_saga import orchestrator

main = df.Orchestrator.create(orchestrator(BOOKING_SAGA))
