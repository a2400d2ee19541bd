"""A blueprint in a package of the app: relative imports work inside it, and app-level packages
import absolutely (the worker puts the app folder on sys.path)."""

import azure.functions as func
from shared_text import PREFIX

from .helper import SUFFIX

bp = func.Blueprint()


@bp.function_name("RelativeImport")
@bp.route(route="imports", methods=["GET"])
def relative_import(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"{PREFIX}+{SUFFIX}")
