"""Returns a dict through the http binding, which its converter refuses at run time.

(Unannotated: with `-> dict` the worker would already refuse the function at load time.)
"""

import azure.functions as func


def main(req: func.HttpRequest):
    return {"not": "an HttpResponse"}
