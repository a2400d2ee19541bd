"""The FencedBookingSaga orchestrator: the declaration in booking_saga, run by the toolkit."""

import azure.durable_functions as df
from booking_saga import FENCED_BOOKING_SAGA

from durable_saga import orchestrator

main = df.Orchestrator.create(orchestrator(FENCED_BOOKING_SAGA))
