"""Turning a POST /api/orders body into a priced order, and deciding whether to start a saga.

Everything a caller can get wrong is reported as a `FieldError` that points at the offending
field with a dotted path (``items.0.quantity``), so a client can fix its request without
reading logs. Nothing here talks HTTP or Durable; `saga.http` does that.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from durable_saga.documents import Identifier
from saga.inventory import UnknownSkus
from saga.models import OrderRequest, PricedOrder, SagaInput
from saga.views import parsed

BODY = "body"
"""The field name used when the whole body, not one field of it, is wrong."""

MAX_BODY_BYTES = 64 * 1024
"""Far above the largest valid order (50 lines); refusing early keeps parsing cheap."""

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class FieldError:
    """One problem with a request: which field (dotted path, or "body") and what is wrong."""

    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class Rejected(Exception):
    """A request the app will not act on; carries the HTTP status and every reason."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field or BODY}: {e.message}" for e in errors))
        self.errors: tuple[FieldError, ...] = tuple(errors)


class InvalidRequest(Rejected):
    """Malformed JSON or a body that fails validation."""

    status = HTTPStatus.BAD_REQUEST


class UnpriceableOrder(Rejected):
    """Well formed, but the catalog cannot price it (unknown SKUs)."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY


class OrderIdConflict(Rejected):
    """The order id already belongs to a different order."""

    status = HTTPStatus.CONFLICT


class NotWaiting(Rejected):
    """An operator's command for a saga that is not waiting for one."""

    status = HTTPStatus.CONFLICT


class UnknownOrder(Rejected):
    """No saga has that order id."""

    status = HTTPStatus.NOT_FOUND


class Pricer(Protocol):
    """What the starter needs from the catalog (`saga.inventory.Inventory` fits)."""

    def price(self, request: OrderRequest, order_id: str) -> PricedOrder: ...


def parse_order_request(body: bytes) -> OrderRequest:
    """Parse and validate a POST /api/orders body; raises InvalidRequest for any bad input."""
    return parse_body(body, OrderRequest)


def parse_body(body: bytes, model: type[M]) -> M:
    """Parse and validate a JSON request body as `model`; raises InvalidRequest naming each bad
    field (or the body as a whole)."""
    if not body.strip():
        raise InvalidRequest([FieldError(BODY, "is empty; send a JSON object")])
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequest(
            [FieldError(BODY, f"is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")]
        )
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidRequest([FieldError(BODY, f"is not UTF-8 text: {error.reason}")]) from None
    except json.JSONDecodeError as error:
        raise InvalidRequest(
            [
                FieldError(
                    BODY,
                    f"is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})",
                )
            ]
        ) from None
    except (ValueError, RecursionError) as error:
        # Integers with thousands of digits and absurdly deep nesting are refused by the parser.
        raise InvalidRequest([FieldError(BODY, f"is not acceptable JSON: {error}")]) from None
    if not isinstance(document, dict):
        raise InvalidRequest([FieldError(BODY, "must be a JSON object")])
    broken = [FieldError(path, "is not valid Unicode text") for path in _broken_strings(document)]
    if broken:
        raise InvalidRequest(broken)
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise InvalidRequest(list(_field_errors(error))) from None


def parse_identifier(value: str, field: str) -> str:
    """Validate an id taken from a URL; raises InvalidRequest naming `field`."""
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError as error:
        raise InvalidRequest(
            [FieldError(field, _message(detail["msg"])) for detail in error.errors()]
        ) from None


def new_order_id() -> str:
    """The id for an order that arrives without one (32 hex digits, as the Durable host makes)."""
    return uuid.uuid4().hex


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


def _field_errors(error: ValidationError) -> Iterator[FieldError]:
    for detail in error.errors():
        path = ".".join(str(part) for part in detail["loc"]) or BODY
        yield FieldError(path, _message(detail["msg"]))


def _message(text: str) -> str:
    """Pydantic prefixes custom validator messages with 'Value error, '; the client needs no
    such noise."""
    return text.removeprefix("Value error, ")


def _broken_strings(document: object) -> Iterator[str]:
    """Paths of strings (keys or values) holding lone surrogates, which no storage accepts.

    Walks with an explicit stack: a body nested a thousand levels deep must not recurse."""
    stack: list[tuple[str, object]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                yield path or BODY
        elif isinstance(value, dict):
            for key, item in value.items():
                if _encodable(key):
                    stack.append((f"{path}.{key}" if path else key, item))
                else:
                    yield path or BODY
        elif isinstance(value, list):
            stack.extend(
                (f"{path}.{index}" if path else str(index), item)
                for index, item in enumerate(value)
            )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
