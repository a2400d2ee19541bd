"""What the engine keeps durably about a task hub, as a small protocol with two implementations.

`table_store.TableTaskHubStore` keeps it in Azure Table storage in DurableTask.AzureStorage's
layout (what `python -m durable_host` uses by default); `memory_store.MemoryTaskHubStore` keeps it
in the process, for tests and demos that need no storage emulator. Both are held to one contract
test suite (tests/durable_host/test_store_contract.py), size limits included, so that an app that
runs on one runs on the other.

The store holds three things per instance: its status row (`InstanceRecord`), the events of its
current execution (the history, written in whole episodes), and an inbox of messages accepted for
it but not yet applied.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from durable_host.history import TERMINAL_STATUSES, Event, OrchestrationStatus

# A string property holds at most 64 KiB of UTF-16.
MAX_STRING_UNITS = 32 * 1024
# An entity holds at most 1 MiB.
MAX_ENTITY_BYTES = 1024 * 1024
_HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")
_ESCAPES = {"^": "^^", "/": "^0", "\\": "^1", "#": "^2", "?": "^3"}
_UNESCAPES = {value[1]: key for key, value in _ESCAPES.items()}


class ValueTooLargeError(ValueError):
    """A value does not fit in a table row (durable_host does not offload values to blobs)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} is too large for Azure Table storage (a string value holds at most 32K "
            "characters and a row 1 MB; durable_host keeps no large values in blobs)"
        )


def fits_in_a_property(text: str) -> bool:
    """Whether `text` can be stored as one string property of a row."""
    if len(text) <= MAX_STRING_UNITS // 2:
        return True  # no character takes more than two UTF-16 units
    return len(text.encode("utf-16-le")) <= 2 * MAX_STRING_UNITS


def sanitize_key(instance_id: str) -> str:
    """The table key of an instance id (DurableTask.AzureStorage's KeySanitation)."""
    return "".join(_ESCAPES.get(char, char) for char in instance_id)


def unsanitize_key(key: str) -> str:
    chars: list[str] = []
    escaped = False
    for char in key:
        if escaped:
            chars.append(_UNESCAPES.get(char, char))
            escaped = False
        elif char == "^":
            escaped = True
        else:
            chars.append(char)
    return "".join(chars)


def validate_hub_name(hub_name: str) -> None:
    if not _HUB_NAME.match(hub_name):
        raise ValueError(
            f"Task hub name {hub_name!r} is invalid: use 3 to 45 letters and digits, "
            "starting with a letter (it prefixes the storage table names)."
        )


@dataclass
class InstanceRecord:
    """One `{hub}Instances` row: what the status API reports about an instance."""

    instance_id: str
    execution_id: str
    name: str
    runtime_status: OrchestrationStatus
    created_time: datetime
    last_updated_time: datetime
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    completed_time: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return self.runtime_status in TERMINAL_STATUSES


@dataclass(frozen=True)
class StoredMessage:
    instance_id: str
    row_key: str
    event: Event
    execution_id: str | None


@dataclass(frozen=True)
class InstanceQuery:
    created_from: datetime | None = None
    created_to: datetime | None = None
    statuses: frozenset[OrchestrationStatus] = frozenset()
    id_prefix: str | None = None

    def matches(self, record: InstanceRecord) -> bool:
        """Whether a record passes the filter (the table store asks the service instead)."""
        if self.created_from is not None and record.created_time < self.created_from:
            return False
        if self.created_to is not None and record.created_time > self.created_to:
            return False
        if self.statuses and record.runtime_status not in self.statuses:
            return False
        return not self.id_prefix or record.instance_id.startswith(self.id_prefix)


UNFINISHED = frozenset(OrchestrationStatus) - TERMINAL_STATUSES


class Checkpoint(NamedTuple):
    """An instance's current execution as its last complete checkpoint left it: its id, its
    events, and the custom status the orchestrator had set by then (kept with the history, so a
    status row written less often can be rebuilt from it)."""

    execution_id: str | None
    events: list[Event]
    custom_status: str | None = None


class TaskHubStore(Protocol):
    """The durable state of one task hub. Every method may raise ValueTooLargeError when a value
    does not fit in a table row, with the same limits whatever the implementation."""

    hub_name: str

    async def close(self) -> None: ...

    async def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    async def put_instance(self, record: InstanceRecord) -> None:
        """Write the status row, replacing any."""
        ...

    async def add_instance(self, record: InstanceRecord) -> bool:
        """Write the row of a new instance; False (and nothing written) when one exists."""
        ...

    async def query_instances(
        self, query: InstanceQuery, top: int | None = None, continuation: str | None = None
    ) -> tuple[list[InstanceRecord], str | None]:
        """Status rows in instance-id key order: all of them, or a page of `top` with the token
        for the next page (None after the last)."""
        ...

    async def load_history(self, instance_id: str) -> Checkpoint:
        """The current execution as the last complete checkpoint left it."""
        ...

    async def append_history(
        self,
        instance_id: str,
        execution_id: str,
        first_sequence: int,
        events: Sequence[Event],
        custom_status: str | None = None,
    ) -> None:
        """Write `events` at positions first_sequence.. of the execution, with the custom status
        as of them, all or nothing as far as a reader can tell (a new execution starts at 0).
        `first_sequence` must be the count already written: the memory store refuses a gap, and
        the table store, which cannot see one without a read per checkpoint, trusts the caller."""
        ...

    async def add_message(
        self, instance_id: str, event: Event, execution_id: str | None = None
    ) -> str:
        """Store a message for an instance (for `execution_id` only, when given); its row key."""
        ...

    async def delete_messages(self, instance_id: str, row_keys: Sequence[str]) -> None:
        """Delete consumed inbox rows; rows already gone are fine."""
        ...

    async def pending_messages(self) -> list[StoredMessage]:
        """Every inbox row, by instance key then row key (arrival order)."""
        ...

    async def purge(self, instance_id: str) -> bool:
        """Delete an instance's row, history and inbox; False when there was no such instance."""
        ...


_message_counter = itertools.count()


def new_message_key() -> str:
    """Inbox row keys sort in arrival order within this process and after a restart."""
    return f"{time.time_ns():020d}{next(_message_counter) % 1000:03d}{uuid.uuid4().hex[:8]}"
