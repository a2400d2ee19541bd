"""Runs Countdown as a sub-orchestration and returns what it returned."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    result = yield context.call_sub_orchestrator("Countdown", context.get_input())
    return result


main = df.Orchestrator.create(orchestrator)
