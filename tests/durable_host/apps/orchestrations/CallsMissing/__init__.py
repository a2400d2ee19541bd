"""Calls an activity the app does not have."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("NoSuchActivity", "x")
    return result


main = df.Orchestrator.create(orchestrator)
