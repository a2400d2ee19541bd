"""Waits for an Approve event or a deadline, whichever comes first; cancels the loser timer
unless the input says {"cancel": false}."""

from datetime import timedelta

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + timedelta(seconds=context.get_input()["seconds"])
    timer = context.create_timer(deadline)
    approval = context.wait_for_external_event("Approve")
    winner = yield context.task_any([approval, timer])
    if winner == approval:
        if context.get_input().get("cancel", True):
            timer.cancel()
        return {"approved": approval.result}
    return {"approved": None, "timed_out": True}


main = df.Orchestrator.create(orchestrator)
