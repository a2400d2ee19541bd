import os

import azure.functions as func


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    folder = os.path.basename(context.function_directory)
    return func.HttpResponse(f"{context.function_name} in {folder} ({context.invocation_id})")
