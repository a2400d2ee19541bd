"""The task hub in the process's memory: nothing listens, nothing is written to disk.

It keeps what `TableTaskHubStore` keeps, with the same rules a table imposes (the same size limits,
instance-id key order for queries, paging with an opaque token, a new execution replacing the old
one's history), so an app tested on it behaves the same on storage. Values are copied in and out,
as they would be serialised, so the engine never shares a mutable object with its store.

"Durable" here means: it outlives an Engine. A test can stop an engine mid-flight and start another
on the same store to see recovery, without Azurite.
"""

from __future__ import annotations

import base64
import bisect
import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from durable_host.history import Event
from durable_host.store import (
    MAX_ENTITY_BYTES,
    Checkpoint,
    InstanceQuery,
    InstanceRecord,
    StoredMessage,
    ValueTooLargeError,
    fits_in_a_property,
    new_message_key,
    sanitize_key,
    unsanitize_key,
    validate_hub_name,
)


def _copy(value: Any) -> Any:
    """A copy of a JSON-like value (events hold nested dicts: OrchestrationInstance and such)."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _check_fits(what: str, values: Sequence[Any]) -> None:
    """Raise as the table service would for a property over 64 KiB or a row over 1 MiB."""
    size = 0
    for value in values:
        if isinstance(value, str):
            if not fits_in_a_property(value):
                raise ValueTooLargeError(what)
            size += 2 * len(value)
        elif isinstance(value, dict):
            size += 2 * len(json.dumps(value))
    if size > MAX_ENTITY_BYTES:
        raise ValueTooLargeError(what)


def _event_values(event: Event) -> list[Any]:
    return list(event.values())


def _record_values(record: InstanceRecord) -> list[Any]:
    return [record.name, record.input, record.output, record.custom_status]


def _encode_token(key: str) -> str:
    return "m" + base64.urlsafe_b64encode(key.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        if not token.startswith("m"):
            raise ValueError(token)
        return base64.urlsafe_b64decode(token[1:].encode()).decode()
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"Invalid continuation token {token!r}") from error


class MemoryTaskHubStore:
    """One task hub held in memory; safe for one event loop (the engine's)."""

    def __init__(self, hub_name: str) -> None:
        validate_hub_name(hub_name)
        self.hub_name = hub_name
        self._instances: dict[str, InstanceRecord] = {}
        self._keys: list[str] = []  # sanitized instance ids, sorted: the table's key order
        self._history: dict[str, Checkpoint] = {}
        self._messages: dict[str, dict[str, tuple[Event, str | None]]] = {}

    async def close(self) -> None:
        return None

    # Instances

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        record = self._instances.get(sanitize_key(instance_id))
        return None if record is None else dataclasses.replace(record)

    async def put_instance(self, record: InstanceRecord) -> None:
        _check_fits(f"The status of instance '{record.instance_id}'", _record_values(record))
        key = sanitize_key(record.instance_id)
        if key not in self._instances:
            bisect.insort(self._keys, key)
        self._instances[key] = dataclasses.replace(record)

    async def add_instance(self, record: InstanceRecord) -> bool:
        if sanitize_key(record.instance_id) in self._instances:
            return False
        await self.put_instance(record)
        return True

    async def query_instances(
        self, query: InstanceQuery, top: int | None = None, continuation: str | None = None
    ) -> tuple[list[InstanceRecord], str | None]:
        start = 0
        if continuation:
            start = bisect.bisect_left(self._keys, _decode_token(continuation))
        records: list[InstanceRecord] = []
        for index in range(start, len(self._keys)):
            key = self._keys[index]
            if top is not None and len(records) == top:
                return records, _encode_token(key)
            record = self._instances[key]
            if query.matches(record):
                records.append(dataclasses.replace(record))
        return records, None

    # History

    async def load_history(self, instance_id: str) -> Checkpoint:
        stored = self._history.get(sanitize_key(instance_id))
        if stored is None:
            return Checkpoint(None, [])
        execution_id, events, custom_status = stored
        return Checkpoint(execution_id, [_copy(event) for event in events], custom_status)

    async def append_history(
        self,
        instance_id: str,
        execution_id: str,
        first_sequence: int,
        events: Sequence[Event],
        custom_status: str | None = None,
    ) -> None:
        what = f"The history of instance '{instance_id}'"
        for event in events:
            _check_fits(what, _event_values(event))
        _check_fits(what, [custom_status])
        key = sanitize_key(instance_id)
        kept: list[Event] = []
        stored = self._history.get(key)
        if stored is not None and stored.execution_id == execution_id:
            kept = stored.events[:first_sequence]
        if len(kept) != first_sequence:
            raise ValueError(
                f"{what}: cannot write at position {first_sequence} of execution "
                f"{execution_id!r}, which holds {len(kept)} events"
            )
        self._history[key] = Checkpoint(
            execution_id, kept + [_copy(event) for event in events], custom_status
        )

    # Inbox

    async def add_message(
        self, instance_id: str, event: Event, execution_id: str | None = None
    ) -> str:
        _check_fits(f"The message for instance '{instance_id}'", [json.dumps(event)])
        row_key = new_message_key()
        inbox = self._messages.setdefault(sanitize_key(instance_id), {})
        inbox[row_key] = (_copy(event), execution_id)
        return row_key

    async def delete_messages(self, instance_id: str, row_keys: Sequence[str]) -> None:
        inbox = self._messages.get(sanitize_key(instance_id), {})
        for row_key in row_keys:
            inbox.pop(row_key, None)

    async def pending_messages(self) -> list[StoredMessage]:
        return [
            StoredMessage(unsanitize_key(key), row_key, _copy(event), execution_id)
            for key in sorted(self._messages)
            for row_key, (event, execution_id) in sorted(self._messages[key].items())
        ]

    # Purge

    async def purge(self, instance_id: str) -> bool:
        key = sanitize_key(instance_id)
        self._history.pop(key, None)
        self._messages.pop(key, None)
        existed = self._instances.pop(key, None) is not None
        if existed:
            del self._keys[bisect.bisect_left(self._keys, key)]
        return existed
