import azure.functions as func


def main(req: func.HttpRequest) -> dict:
    return {"not": "an HttpResponse"}
