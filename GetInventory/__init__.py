"""GET /api/inventory/{sku}: the catalog item's unit price and available stock."""

import azure.functions as func

from saga.http import get_inventory


def main(req: func.HttpRequest) -> func.HttpResponse:
    return get_inventory(req)
