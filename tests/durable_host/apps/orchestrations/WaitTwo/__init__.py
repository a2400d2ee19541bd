"""Waits for event A, then event B (B may be raised first), and returns both payloads."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    first = yield context.wait_for_external_event("A")
    context.set_custom_status("got A")
    second = yield context.wait_for_external_event("B")
    return [first, second]


main = df.Orchestrator.create(orchestrator)
