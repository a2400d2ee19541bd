"""Picks its first activity from an app setting: changing it mid-flight breaks determinism."""

import os

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    first = yield context.call_activity(os.environ.get("FICKLE_ACTIVITY", "Greet"), 3)
    go = yield context.wait_for_external_event("Go")
    return [first, go]


main = df.Orchestrator.create(orchestrator)
