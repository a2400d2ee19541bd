"""Function chaining: each step's output feeds the next."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    name = context.get_input()
    first = yield context.call_activity("Greet", name)
    second = yield context.call_activity("Greet", first)
    context.set_custom_status({"step": 2})
    third = yield context.call_activity("Greet", second)
    return [first, second, third]


main = df.Orchestrator.create(orchestrator)
