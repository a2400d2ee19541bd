"""The task hub in Azure Table storage, in DurableTask.AzureStorage's table layout.

`{hub}Instances` holds one status row per instance and `{hub}History` the current execution's
events plus a `sentinel` row, exactly as the real provider lays them out. `{hub}Messages` is this
host's inbox: a message acknowledged to a caller or sent by another instance (a raised event, a
terminate, suspend or resume, a sub-orchestration's start or result) is written there before it is
acted on and deleted once an episode has checkpointed it, so a process killed at any instant loses
nothing. A start needs no message: its Pending status row is the durable promise.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from durable_host.history import (
    Event,
    OrchestrationStatus,
    from_row,
    to_row,
    utc_now,
)
from durable_host.store import (
    Checkpoint,
    InstanceQuery,
    InstanceRecord,
    StoredMessage,
    ValueTooLargeError,
    new_message_key,
    sanitize_key,
    unsanitize_key,
    validate_hub_name,
)
from durable_host.tables import (
    BATCH_LIMIT,
    BatchError,
    EntityExistsError,
    Operation,
    Table,
    TableError,
    TableService,
)

SENTINEL = "sentinel"
_TOO_LARGE_CODES = frozenset({"PropertyValueTooLarge", "EntityTooLarge", "RequestBodyTooLarge"})


@contextlib.asynccontextmanager
async def _size_checked(what: str) -> AsyncIterator[None]:
    try:
        yield
    except TableError as error:
        if error.code not in _TOO_LARGE_CODES:
            raise
        raise ValueTooLargeError(what) from error


class TableTaskHubStore:
    """One task hub's tables, through the lean async Table client (it never blocks the loop)."""

    def __init__(self, service: TableService, hub_name: str) -> None:
        self.hub_name = hub_name
        self._service = service
        self.instances: Table = service.table(f"{hub_name}Instances")
        self.history: Table = service.table(f"{hub_name}History")
        self.messages: Table = service.table(f"{hub_name}Messages")

    @classmethod
    async def open(cls, connection_string: str, hub_name: str) -> TableTaskHubStore:
        validate_hub_name(hub_name)
        store = cls(TableService.from_connection_string(connection_string), hub_name)
        try:
            for table in (store.instances, store.history, store.messages):
                await table.create_table()
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        await self._service.close()

    # Instances

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        row = await self.instances.get_entity(sanitize_key(instance_id), "")
        return None if row is None else _record_from_row(row)

    async def put_instance(self, record: InstanceRecord) -> None:
        async with _size_checked(f"The status of instance '{record.instance_id}'"):
            await self.instances.upsert_entity(self._instance_row(record))

    async def add_instance(self, record: InstanceRecord) -> bool:
        try:
            async with _size_checked(f"The status of instance '{record.instance_id}'"):
                await self.instances.create_entity(self._instance_row(record))
        except EntityExistsError:
            return False
        return True

    def _instance_row(self, record: InstanceRecord) -> dict[str, Any]:
        row: dict[str, Any] = {
            "PartitionKey": sanitize_key(record.instance_id),
            "RowKey": "",
            "ExecutionId": record.execution_id,
            "Name": record.name,
            "Version": "",
            "CustomStatus": record.custom_status if record.custom_status is not None else "null",
            "CreatedTime": record.created_time,
            "LastUpdatedTime": record.last_updated_time,
            "RuntimeStatus": record.runtime_status.name,
            "TaskHubName": self.hub_name,
        }
        if record.input is not None:
            row["Input"] = record.input
        if record.output is not None:
            row["Output"] = record.output
        if record.completed_time is not None:
            row["CompletedTime"] = record.completed_time
        return row

    async def query_instances(
        self, query: InstanceQuery, top: int | None = None, continuation: str | None = None
    ) -> tuple[list[InstanceRecord], str | None]:
        clauses: list[str] = ["RowKey eq ''"]
        parameters: dict[str, Any] = {}
        if query.created_from is not None:
            clauses.append("CreatedTime ge @created_from")
            parameters["created_from"] = query.created_from
        if query.created_to is not None:
            clauses.append("CreatedTime le @created_to")
            parameters["created_to"] = query.created_to
        if query.statuses:
            names = sorted(status.name for status in query.statuses)
            alternatives = []
            for index, name in enumerate(names):
                parameters[f"status{index}"] = name
                alternatives.append(f"RuntimeStatus eq @status{index}")
            clauses.append("( " + " or ".join(alternatives) + " )")
        if query.id_prefix:
            prefix = sanitize_key(query.id_prefix)
            clauses.append("PartitionKey ge @prefix_low and PartitionKey lt @prefix_high")
            parameters["prefix_low"] = prefix
            parameters["prefix_high"] = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        records: list[InstanceRecord] = []
        token = continuation or None
        while True:
            page = await self.instances.query_page(
                " and ".join(clauses), parameters, top=top, continuation=token
            )
            records += [_record_from_row(row) for row in page.rows]
            token = page.continuation
            if top is not None or token is None:
                return records, token

    # History

    async def load_history(self, instance_id: str) -> Checkpoint:
        rows = [
            row
            async for row in self.history.query_entities(
                "PartitionKey eq @key", {"key": sanitize_key(instance_id)}
            )
        ]
        sentinel = next((row for row in rows if row["RowKey"] == SENTINEL), None)
        if sentinel is None:
            return Checkpoint(None, [])
        execution_id = str(sentinel["ExecutionId"])
        count = int(sentinel.get("HistoryEventCount", 0))
        events = [
            from_row(row)
            for row in sorted(rows, key=lambda row: str(row["RowKey"]))
            if row["RowKey"] != SENTINEL
            and row.get("ExecutionId") == execution_id
            and int(str(row["RowKey"]), 16) < count
        ]
        return Checkpoint(execution_id, events, sentinel.get("CustomStatus"))

    async def append_history(
        self,
        instance_id: str,
        execution_id: str,
        first_sequence: int,
        events: Sequence[Event],
        custom_status: str | None = None,
    ) -> None:
        """Write events at positions first_sequence.. and move the sentinel past them.

        Batches of at most 100 operations in one partition; the sentinel goes in the last one, so
        a reader never sees a half-written episode. The sentinel also keeps the custom status as
        of these events (a column DurableTask.AzureStorage does not write, and readers ignore).
        """
        key = sanitize_key(instance_id)
        rows = [
            to_row(event, key, execution_id, first_sequence + offset)
            for offset, event in enumerate(events)
        ]
        sentinel = {
            "PartitionKey": key,
            "RowKey": SENTINEL,
            "ExecutionId": execution_id,
            "IsCheckpointComplete": True,
            "CheckpointCompletedTimestamp": utc_now(),
            "HistoryEventCount": first_sequence + len(events),
        }
        if custom_status is not None:
            sentinel["CustomStatus"] = custom_status
        batches = list(_chunks(rows, BATCH_LIMIT - 1)) or [[]]
        for index, batch in enumerate(batches):
            operations = [Operation("upsert", row) for row in batch]
            if index == len(batches) - 1:
                operations.append(Operation("upsert", sentinel))
            async with _size_checked(f"The history of instance '{instance_id}'"):
                await self.history.submit_transaction(operations)

    # Inbox

    async def add_message(
        self, instance_id: str, event: Event, execution_id: str | None = None
    ) -> str:
        row_key = new_message_key()
        row = {
            "PartitionKey": sanitize_key(instance_id),
            "RowKey": row_key,
            "Event": json.dumps(event),
        }
        if execution_id is not None:
            row["ExecutionId"] = execution_id
        async with _size_checked(f"The message for instance '{instance_id}'"):
            await self.messages.create_entity(row)
        return row_key

    async def delete_messages(self, instance_id: str, row_keys: Sequence[str]) -> None:
        key = sanitize_key(instance_id)
        for batch in _chunks(list(row_keys), BATCH_LIMIT):
            try:
                await self.messages.submit_transaction([_delete(key, row_key) for row_key in batch])
            except BatchError as error:
                if error.status != 404:
                    raise
                # One row of the batch was already deleted, which fails the whole batch.
                for row_key in batch:
                    await self.messages.delete_entity(key, row_key, missing_ok=True)

    async def pending_messages(self) -> list[StoredMessage]:
        return [
            StoredMessage(
                unsanitize_key(str(row["PartitionKey"])),
                str(row["RowKey"]),
                json.loads(row["Event"]),
                row.get("ExecutionId"),
            )
            async for row in self.messages.query_entities()
        ]

    # Purge

    async def purge(self, instance_id: str) -> bool:
        key = sanitize_key(instance_id)
        existed = await self.get_instance(instance_id) is not None
        for table in (self.history, self.messages):
            keys = [
                str(row["RowKey"])
                async for row in table.query_entities(
                    "PartitionKey eq @key", {"key": key}, select=["RowKey"]
                )
            ]
            for batch in _chunks(keys, BATCH_LIMIT):
                await table.submit_transaction([_delete(key, row_key) for row_key in batch])
        await self.instances.delete_entity(key, "", missing_ok=True)
        return existed


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _delete(partition_key: str, row_key: str) -> Operation:
    return Operation("delete", {"PartitionKey": partition_key, "RowKey": row_key})


def _record_from_row(row: Mapping[str, Any]) -> InstanceRecord:
    custom_status = row.get("CustomStatus")
    return InstanceRecord(
        instance_id=unsanitize_key(str(row["PartitionKey"])),
        execution_id=str(row.get("ExecutionId", "")),
        name=str(row.get("Name", "")),
        runtime_status=OrchestrationStatus[row["RuntimeStatus"]],
        created_time=row["CreatedTime"],
        last_updated_time=row["LastUpdatedTime"],
        input=row.get("Input"),
        output=row.get("Output"),
        custom_status=None if custom_status in (None, "null") else custom_status,
        completed_time=row.get("CompletedTime"),
    )
