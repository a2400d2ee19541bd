"""A ledger table as one process sees it: the rows it read or wrote last, with their ETags.

Every ledger step reads a few rows, decides, and commits one ETag-guarded transaction. Most of its
reads can come from what this process already knows: the stock row it updated for the previous
order, the wallet it charged a minute ago, the record it wrote when the step ran forward. That is
safe because a decision is only ever taken from a cached row through a write guarded by the
cached ETag (a create for records): if another writer changed the row meanwhile, the transaction
fails as a whole (412, or 409 for a record that exists), the rows it touched are forgotten, and
the step decides again from storage. A step that would refuse without writing (not enough stock,
not enough money) reads the row from storage first, so a stale row never refuses an order.

Writers in this process take the rows they change in turn (`exclusive`), so they do not race each
other for the same ETag; writers in other processes (more instances of the app on Azure) are kept
apart by the ETags alone, as before.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, UpdateMode

# Rows kept per table: far more than a ledger's hot rows, bounded for a long-running process.
CAPACITY = 50_000
_UNSTORABLE_KEY_CHARS = frozenset("/\\#?")

Key = tuple[str, str]


class Row(dict[str, Any]):
    """A row's properties (keys included) and the ETag they had when last read or written."""

    def __init__(self, values: dict[str, Any], etag: str, stored_at: float) -> None:
        super().__init__(values)
        self.etag = etag
        self.stored_at = stored_at

    @property
    def key(self) -> Key:
        return str(self["PartitionKey"]), str(self["RowKey"])


@dataclass(frozen=True)
class Write:
    """One operation of a transaction, and the row it leaves behind."""

    operation: tuple[Any, ...]
    after: dict[str, Any]

    @property
    def key(self) -> Key:
        return str(self.after["PartitionKey"]), str(self.after["RowKey"])


def storable(key: str) -> bool:
    """Table storage refuses these characters in keys (and '#' or '?' would cut the request URL)."""
    return not any(c in _UNSTORABLE_KEY_CHARS or ord(c) < 32 or 127 <= ord(c) < 160 for c in key)


def guarded_update(row: Row, changes: dict[str, Any]) -> Write:
    """Merge `changes` into `row` only if nobody changed it since it was read (its ETag)."""
    entity = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], **changes}
    guard = {
        "mode": UpdateMode.MERGE,
        "etag": row.etag,
        "match_condition": MatchConditions.IfNotModified,
    }
    operation = ("update", entity, guard)
    return Write(operation, {**row, **changes})


def create(entity: dict[str, Any]) -> Write:
    """Create the row; the transaction fails (409) if it exists."""
    return Write(("create", entity), dict(entity))


class LedgerTable:
    """A TableClient with the rows this process knows, and a turn per row for its writers."""

    def __init__(self, client: TableClient, capacity: int = CAPACITY) -> None:
        self.client = client
        self._capacity = capacity
        self._rows: OrderedDict[Key, Row] = OrderedDict()
        self._lock = threading.Lock()
        self._turns: dict[Key, threading.Lock] = {}
        # Bumped at every write this process makes: a read that began before a write must not
        # replace the row that write left with the older one it fetched.
        self._writes = 0

    def read(self, partition_key: str, row_key: str, max_age: float | None = None) -> Row | None:
        """The row as this process last saw it (if not older than `max_age` seconds), else as
        storage has it now; None when it does not exist."""
        known = self._recall((partition_key, row_key), max_age)
        return known if known is not None else self.read_fresh(partition_key, row_key)

    def read_to_decide(
        self, keys: Sequence[Key], refuses: Callable[[list[Row | None]], bool]
    ) -> list[Row | None]:
        """The rows a step decides from, in the order of `keys`: as this process remembers them
        where it can, but all as storage has them now when the remembered ones would make the
        step refuse (`refuses`: not enough stock or money), so a stale row never refuses."""
        recalled = [self._recall(key) for key in keys]
        rows = [
            row if row is not None else self.read_fresh(*key)
            for row, key in zip(recalled, keys, strict=True)
        ]
        if any(row is not None for row in recalled) and refuses(rows):
            rows = [self.read_fresh(*key) for key in keys]
        return rows

    def read_fresh(self, partition_key: str, row_key: str) -> Row | None:
        """The row as storage has it now (and remembered); None when it does not exist."""
        if not (storable(partition_key) and storable(row_key)):
            return None
        writes_before = self._writes
        try:
            entity: TableEntity = self.client.get_entity(partition_key, row_key)
        except ResourceNotFoundError:
            self.forget([(partition_key, row_key)])
            return None
        row = Row(dict(entity), str(entity.metadata["etag"]), time.monotonic())
        self._remember(row, unless_written_since=writes_before)
        return row

    def create(self, entity: dict[str, Any]) -> Row:
        """Create the row (ResourceExistsError if it exists) and remember it."""
        key = (str(entity["PartitionKey"]), str(entity["RowKey"]))
        try:
            metadata = self.client.create_entity(entity)
        except ResourceExistsError:
            self.forget([key])
            raise
        row = Row(dict(entity), str(metadata["etag"]), time.monotonic())
        self._remember(row)
        return row

    def create_if_absent(self, entity: dict[str, Any]) -> bool:
        """Create the row unless one with its keys exists (never overwriting); True when created."""
        try:
            self.create(entity)
        except ResourceExistsError:
            return False
        return True

    def commit(self, writes: Sequence[Write]) -> None:
        """Apply the writes as one transaction, and remember the rows they leave. When it fails,
        the rows it touched are forgotten, so the next decision reads them from storage."""
        keys = [write.key for write in writes]
        try:
            results = self.client.submit_transaction([write.operation for write in writes])
        except HttpResponseError:
            self.forget(keys)
            raise
        now = time.monotonic()
        for write, result in zip(writes, results, strict=True):
            etag = result.get("etag")
            if etag:
                self._remember(Row(write.after, str(etag), now))
            else:
                self.forget([write.key])

    def forget(self, keys: Sequence[Key]) -> None:
        with self._lock:
            for key in keys:
                self._rows.pop(key, None)

    @contextlib.contextmanager
    def exclusive(self, keys: Sequence[Key]) -> Iterator[None]:
        """Hold these rows against this process's other writers (taken in key order, so two
        steps never wait for each other)."""
        with self._lock:
            turns = [self._turns.setdefault(key, threading.Lock()) for key in sorted(set(keys))]
        with contextlib.ExitStack() as held:
            for turn in turns:
                held.enter_context(turn)
            yield

    def _recall(self, key: Key, max_age: float | None = None) -> Row | None:
        """The row as this process last saw it, if it did and not more than `max_age` ago."""
        with self._lock:
            known = self._rows.get(key)
            if known is not None:
                self._rows.move_to_end(key)
        if known is None or (max_age is not None and time.monotonic() - known.stored_at > max_age):
            return None
        return known

    def _remember(self, row: Row, unless_written_since: int | None = None) -> None:
        with self._lock:
            if unless_written_since is None:
                self._writes += 1
            elif self._writes != unless_written_since:
                return  # a write of this process may have left a newer row than this read
            self._rows[row.key] = row
            self._rows.move_to_end(row.key)
            while len(self._rows) > self._capacity:
                self._rows.popitem(last=False)
