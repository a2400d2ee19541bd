"""Turning a POST /api/orders body into a priced order, and deciding whether to start a saga.

What a caller can get wrong is reported field by field (durable_saga.validation). Nothing here
talks HTTP or Durable; `saga.http` does that.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Protocol

from durable_saga.errors import FieldError, Rejected
from durable_saga.views import parsed
from saga.inventory import UnknownSkus
from saga.models import OrderRequest, PricedOrder, SagaInput


class UnpriceableOrder(Rejected):
    """Well formed, but the catalog cannot price it (unknown SKUs)."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY


class OrderIdConflict(Rejected):
    """The order id already belongs to a different order."""

    status = HTTPStatus.CONFLICT


class Pricer(Protocol):
    """What the starter needs from the catalog (`saga.inventory.Inventory` fits)."""

    def price(self, request: OrderRequest, order_id: str) -> PricedOrder: ...


def price_order(pricer: Pricer, request: OrderRequest, order_id: str) -> PricedOrder:
    """Price `request` from the catalog; raises UnpriceableOrder naming each unknown SKU."""
    try:
        return pricer.price(request, order_id)
    except UnknownSkus as error:
        unknown = set(error.skus)
        raise UnpriceableOrder(
            [
                FieldError(f"items.{index}.sku", f"unknown sku {line.sku!r}")
                for index, line in enumerate(request.items)
                if line.sku in unknown
            ]
        ) from None


def ensure_same_order(request: OrderRequest, order_id: str, existing_input: Any) -> None:
    """Accept a repeated start of `order_id` only if it asks for the order already running.

    `existing_input` is the instance's input as the status API returns it: the saga input as
    JSON text or as an already parsed object. Raises OrderIdConflict otherwise.
    """
    existing = parsed(SagaInput, existing_input)
    if existing is None or existing.order.orderId != order_id:
        raise OrderIdConflict(
            [FieldError("orderId", f"order id {order_id!r} is already used by another instance")]
        )
    if not existing.order.same_request(request):
        raise OrderIdConflict(
            [
                FieldError(
                    "orderId",
                    f"order {order_id!r} already exists for a different customer or items; "
                    "use a new order id",
                )
            ]
        )
