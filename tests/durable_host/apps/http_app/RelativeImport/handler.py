import azure.functions as func
from shared_http import PREFIX

from .helper import SUFFIX


def handle(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"{PREFIX}+{SUFFIX}")
