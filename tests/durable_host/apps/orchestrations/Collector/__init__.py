"""Collects three Item events, one per execution (continue_as_new in between)."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    items = context.get_input()
    item = yield context.wait_for_external_event("Item")
    items = [*items, item]
    if len(items) >= 3:
        return items
    context.continue_as_new(items)


main = df.Orchestrator.create(orchestrator)
