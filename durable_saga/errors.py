"""What stops a request, for every endpoint of a saga's API: a refusal naming each field that is
wrong (answered 4xx), a service that cannot be reached (503, try again), or a misconfigured app
(500, naming what to fix). durable_saga.http turns each into its answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

BODY = "body"
"""The field name used when the whole body, not one field of it, is wrong."""


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


class NotWaiting(Rejected):
    """An operator's command for a saga that is not waiting for one."""

    status = HTTPStatus.CONFLICT


class UnknownSaga(Rejected):
    """No saga of this kind has that id."""

    status = HTTPStatus.NOT_FOUND


class ServiceUnavailable(Exception):
    """Storage or the Durable host could not be reached or refused to work; retrying may help.
    The message's first line is what the caller reads."""


class Misconfigured(Exception):
    """The app's configuration keeps it from answering; the message names what to fix."""
