"""Reflects every request field back as JSON, so tests see what the function received."""

import base64
import json

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    received = {
        "method": req.method,
        "url": req.url,
        "route_params": dict(req.route_params),
        "params": dict(req.params),
        "headers": dict(req.headers),
        "body_base64": base64.b64encode(req.get_body()).decode(),
    }
    return func.HttpResponse(json.dumps(received), mimetype="application/json")
