"""An HTTP function without an http output binding: nothing to send back but a status."""

import azure.functions as func


def main(req: func.HttpRequest):
    # A value with no $return binding to carry it is an error the worker reports.
    return "OK" if req.route_params["mode"] == "value" else None
