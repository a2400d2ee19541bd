"""Sleeps on a durable timer, then reports how long it waited."""

from datetime import timedelta

import azure.durable_functions as df


def orchestrator(context: df.DurableOrchestrationContext):
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(seconds=context.get_input()["seconds"]))
    return (context.current_utc_datetime - started).total_seconds()


main = df.Orchestrator.create(orchestrator)
