"""GET /api/customers/{customerId}: the customer's wallet balance."""

import azure.functions as func

from saga.http import get_customer


def main(req: func.HttpRequest) -> func.HttpResponse:
    return get_customer(req)
