"""Counts to a limit, one greeting and one continue_as_new per step."""

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    state = context.get_input()
    if state["n"] >= state["limit"]:
        return state
    greeting = yield context.call_activity("Greet", str(state["n"]))
    context.continue_as_new(
        {"n": state["n"] + 1, "limit": state["limit"], "seen": [*state["seen"], greeting]}
    )


main = df.Orchestrator.create(orchestrator)
