"""Reading a request's body and ids, naming every field that is wrong.

Everything a caller can get wrong is reported as a `FieldError` that points at the offending
field with a dotted path (``items.0.quantity``), so a client can fix its request without reading
logs. Nothing here talks HTTP or Durable; durable_saga.http turns the refusal into its answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from durable_saga.documents import Identifier
from durable_saga.errors import BODY, FieldError, InvalidRequest

MAX_BODY_BYTES = 64 * 1024
"""Far above the largest valid request (an order of 50 lines); refusing early keeps parsing
cheap."""

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
M = TypeVar("M", bound=BaseModel)


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
