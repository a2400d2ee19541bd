"""Fan-out/fan-in: squares computed in parallel, summed once all are in."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    count = context.get_input()["count"]
    squares = yield context.task_all([context.call_activity("Square", n) for n in range(count)])
    total = yield context.call_activity("Sum", squares)
    return {"squares": squares, "total": total}


main = df.Orchestrator.create(orchestrator)
