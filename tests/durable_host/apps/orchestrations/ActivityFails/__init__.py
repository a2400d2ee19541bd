"""Calls Flaky without retries and without catching: the failure fails the orchestration."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("Flaky", context.get_input())
    return result


main = df.Orchestrator.create(orchestrator)
