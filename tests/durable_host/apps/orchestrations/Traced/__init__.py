"""Reports the trace context the host invoked it with."""

import azure.functions as func


def main(value: str, context: func.Context) -> dict:
    trace = context.trace_context
    return {
        "trace_parent": trace.trace_parent,
        "trace_state": trace.trace_state,
        "attributes": trace.attributes,
    }
