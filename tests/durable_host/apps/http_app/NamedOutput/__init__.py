import azure.functions as func


def main(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
    response = func.HttpResponse(
        req.get_body(), status_code=201, headers={"X-Saga": "created"}, mimetype="text/plain"
    )
    response.headers.add("Set-Cookie", "session=abc; Path=/")
    res.set(response)
