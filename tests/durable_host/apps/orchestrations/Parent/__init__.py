"""Runs Chain as a sub-orchestration, then FlakyChild with retries, and returns both results."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    request = context.get_input()
    chained = yield context.call_sub_orchestrator("Chain", request["name"])
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=3)
    flaky = yield context.call_sub_orchestrator_with_retry(
        "FlakyChild", options, {"key": request["key"], "failures": 1}
    )
    return {"chained": chained, "flaky": flaky}


main = df.Orchestrator.create(orchestrator)
