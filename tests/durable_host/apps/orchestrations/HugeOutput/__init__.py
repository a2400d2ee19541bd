"""Returns an output of the requested size, directly or from the Huge activity."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    request = context.get_input()
    if request["via_activity"]:
        text = yield context.call_activity("Huge", request["size"])
        return len(text)
    return "y" * request["size"]


main = df.Orchestrator.create(orchestrator)
