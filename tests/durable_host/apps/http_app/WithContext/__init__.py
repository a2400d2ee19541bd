import json
import os

import azure.functions as func


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    seen = {
        "function_name": context.function_name,
        "folder": os.path.basename(context.function_directory),
        "invocation_id": context.invocation_id,
        "thread_invocation_id": context.thread_local_storage.invocation_id,
        "trace_parent": context.trace_context.trace_parent,
        "trace_state": context.trace_context.trace_state,
        "attributes": context.trace_context.attributes,
        "Traceparent": context.trace_context.Traceparent,
    }
    return func.HttpResponse(json.dumps(seen), mimetype="application/json")
