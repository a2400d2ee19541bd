"""Runs one activity, then raises: the orchestration must end Failed."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    yield context.call_activity("Greet", "x")
    raise ValueError("kaboom")


main = df.Orchestrator.create(orchestrator)
