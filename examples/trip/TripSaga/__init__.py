"""The TripSaga orchestrator: the declaration in trip_saga, run by the toolkit."""

import azure.durable_functions as df
from trip_saga import TRIP_SAGA

from durable_saga import orchestrator

main = df.Orchestrator.create(orchestrator(TRIP_SAGA))
