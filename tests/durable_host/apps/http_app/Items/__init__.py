import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"catch-all:{req.route_params.get('rest', '')}")
