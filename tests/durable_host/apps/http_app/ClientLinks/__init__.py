"""Shows what the Durable client makes of its binding (under the binding's older name)."""

import json

import azure.durable_functions as df
import azure.functions as func


def main(req: func.HttpRequest, client: str) -> func.HttpResponse:
    durable = df.DurableOrchestrationClient(client)
    links = durable.create_http_management_payload(req.route_params["instanceId"])
    payload = {"links": links, "binding": json.loads(client)}
    return func.HttpResponse(json.dumps(payload), mimetype="application/json")
