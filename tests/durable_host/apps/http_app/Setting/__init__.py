"""Shows an app setting, so tests see local.settings.json Values arrive in the environment."""

import os

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    value = os.environ.get(req.route_params["name"])
    if value is None:
        return func.HttpResponse(status_code=404)
    return func.HttpResponse(value)
