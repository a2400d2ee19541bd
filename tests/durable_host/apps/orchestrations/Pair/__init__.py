"""Greets two names in parallel, reporting the first answer as soon as it arrives."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    calls = [context.call_activity("Greet", name) for name in context.get_input()]
    first = yield context.task_any(calls)
    context.set_custom_status(first.result)
    both = yield context.task_all(calls)
    return both


main = df.Orchestrator.create(orchestrator)
