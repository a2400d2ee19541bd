"""Counts its input down to zero, one continue_as_new per step and nothing awaited in between."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    remaining = context.get_input()
    if remaining > 0:
        context.continue_as_new(remaining - 1)
        return None
    return "liftoff"


main = df.Orchestrator.create(orchestrator)
