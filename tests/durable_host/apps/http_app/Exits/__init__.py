import sys

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    sys.exit(3)
