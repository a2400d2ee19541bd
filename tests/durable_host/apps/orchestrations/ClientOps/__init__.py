"""Drives the SDK's DurableOrchestrationClient, so tests exercise the rpc API it calls."""

import json

import azure.durable_functions as df
import azure.functions as func


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    client = df.DurableOrchestrationClient(starter)
    op = req.route_params["op"]
    instance_id = req.route_params["instanceId"]
    body = req.get_json() if req.get_body() else {}
    if op == "start":
        started = await client.start_new(body["function"], instance_id, body.get("input"))
        return client.create_check_status_response(req, started)
    if op == "status":
        status = await client.get_status(instance_id, show_history=True, show_input=True)
        return _json(status.to_json() if status else None)
    if op == "raise":
        await client.raise_event(instance_id, body["event"], body.get("data"))
    elif op == "terminate":
        await client.terminate(instance_id, body.get("reason", "stop"))
    elif op == "suspend":
        await client.suspend(instance_id, "pause")
    elif op == "resume":
        await client.resume(instance_id, "go on")
    elif op == "purge":
        result = await client.purge_instance_history(instance_id)
        return _json({"deleted": result.instances_deleted})
    elif op == "list":
        statuses = await client.get_status_all()
        return _json(
            sorted(s.instance_id for s in statuses if s.instance_id.startswith(instance_id))
        )
    return _json({"done": op})


def _json(value: object) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(value, default=str), mimetype="application/json")
