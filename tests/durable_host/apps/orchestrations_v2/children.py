"""Orchestrators that run others as sub-orchestrations, on a blueprint the app registers."""

import azure.durable_functions as df

bp = df.Blueprint()


@bp.function_name("Parent")
@bp.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    """Runs Chain as a sub-orchestration, then FlakyChild with retries, and returns both."""
    request = context.get_input()
    chained = yield context.call_sub_orchestrator("Chain", request["name"])
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=3)
    flaky = yield context.call_sub_orchestrator_with_retry(
        "FlakyChild", options, {"key": request["key"], "failures": 1}
    )
    return {"chained": chained, "flaky": flaky}


@bp.function_name("FlakyChild")
@bp.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    """Calls Flaky once without retries, so the whole sub-orchestration fails when Flaky does."""
    attempt = yield context.call_activity("Flaky", context.get_input())
    return {"child": context.instance_id, "attempt": attempt}


@bp.function_name("CountdownParent")
@bp.orchestration_trigger(context_name="context")
def countdown_parent(context: df.DurableOrchestrationContext):
    """Runs Countdown as a sub-orchestration and returns what it returned."""
    result = yield context.call_sub_orchestrator("Countdown", context.get_input())
    return result


@bp.function_name("Countdown")
@bp.orchestration_trigger(context_name="context")
def countdown(context: df.DurableOrchestrationContext):
    """Counts its input down to zero, one continue_as_new per step and nothing awaited between."""
    remaining = context.get_input()
    if remaining > 0:
        context.continue_as_new(remaining - 1)
        return None
    return "liftoff"
