"""Five slow steps in a row: long enough to be caught mid-flight by a crash."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    total = context.get_input()
    for step in range(5):
        total = yield context.call_activity("Pause", total + step)
    return total


main = df.Orchestrator.create(orchestrator)
