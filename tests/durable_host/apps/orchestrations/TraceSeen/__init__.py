"""An orchestrator entry point that also takes the invocation context: it returns the trace
context of its own invocation next to the one its activity saw."""

import azure.durable_functions as df
import azure.functions as func


def main(episode: func.OrchestrationContext, context: func.Context) -> str:
    trace = context.trace_context
    seen = {
        "trace_parent": trace.trace_parent,
        "trace_state": trace.trace_state,
        "attributes": trace.attributes,
    }

    def orchestrator(durable: df.DurableOrchestrationContext):
        activity = yield durable.call_activity("Traced", None)
        return {"orchestrator": seen, "activity": activity}

    return df.Orchestrator.create(orchestrator)(episode)
