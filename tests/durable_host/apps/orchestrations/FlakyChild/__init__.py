"""Calls Flaky once without retries, so the whole sub-orchestration fails when Flaky does."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    attempt = yield context.call_activity("Flaky", context.get_input())
    return {"child": context.instance_id, "attempt": attempt}


main = df.Orchestrator.create(orchestrator)
