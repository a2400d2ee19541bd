"""Fans out twelve Track calls and returns the highest number any of them answered."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    seen = yield context.task_all([context.call_activity("Track", n) for n in range(12)])
    return max(seen)


main = df.Orchestrator.create(orchestrator)
