"""Calls Flaky with retries; reports the attempt that succeeded or the final error."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    request = context.get_input()
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=200, max_number_of_attempts=request["attempts"]
    )
    try:
        attempt = yield context.call_activity_with_retry("Flaky", options, request)
    except Exception as error:
        return {"error": str(error)}
    return {"attempt": attempt}


main = df.Orchestrator.create(orchestrator)
