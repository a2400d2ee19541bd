"""The task hub tables: DurableTask.AzureStorage's layout, readable by any table client.

What every store must do is in test_store_contract.py; this is what only the tables promise.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from azure.data.tables import TableClient

from durable_host import history as h
from durable_host.history import OrchestrationStatus
from durable_host.store import (
    Checkpoint,
    InstanceRecord,
    sanitize_key,
    unsanitize_key,
)
from durable_host.table_store import TableTaskHubStore
from tests.durable_host.histories import T0, sample_history


def test_instance_ids_are_escaped_for_table_keys() -> None:
    assert sanitize_key("a/b\\c#d?e^f") == "a^0b^1c^2d^3e^^f"
    for instance_id in ["plain", "a/b\\c#d?e^f", "^^0", "x^"]:
        assert unsanitize_key(sanitize_key(instance_id)) == instance_id


def test_history_round_trips_and_is_stored_in_the_documented_layout(
    storage_connection_string: str, unique_name: str
) -> None:
    events = sample_history("a/b#c", "exec1")

    async def scenario() -> Checkpoint:
        store = await TableTaskHubStore.open(storage_connection_string, unique_name)
        try:
            await store.append_history("a/b#c", "exec1", 0, events[:5])
            await store.append_history("a/b#c", "exec1", 5, events[5:], '{"stage": "done"}')
            return await store.load_history("a/b#c")
        finally:
            await store.close()

    execution_id, loaded, _ = asyncio.run(scenario())
    assert execution_id == "exec1"
    assert loaded == events

    table = TableClient.from_connection_string(storage_connection_string, f"{unique_name}History")
    rows = {row["RowKey"]: row for row in table.query_entities("PartitionKey eq 'a^0b^2c'")}
    assert sorted(rows) == [f"{n:016X}" for n in range(len(events))] + ["sentinel"]
    started = rows["0000000000000001"]
    assert started["EventType"] == "ExecutionStarted"
    assert started["ExecutionId"] == "exec1"
    assert started["Name"] == "Orch"
    assert json.loads(started["OrchestrationInstance"]) == {
        "InstanceId": "a/b#c",
        "ExecutionId": "exec1",
    }
    assert started["_Timestamp"] == T0
    scheduled = rows["0000000000000002"]
    assert scheduled["EventType"] == "TaskScheduled"
    assert scheduled["EventId"] == 0
    assert json.loads(scheduled["Input"]) == ['{"x": 1}']
    assert rows["0000000000000009"]["OrchestrationStatus"] == "Completed"
    assert rows["sentinel"]["ExecutionId"] == "exec1"
    assert rows["sentinel"]["IsCheckpointComplete"] is True
    assert rows["sentinel"]["CustomStatus"] == '{"stage": "done"}'


def test_history_beyond_one_batch_and_an_unfinished_checkpoint(
    storage_connection_string: str, unique_name: str
) -> None:
    many = [h.event_raised(T0, f"E{n}", str(n)) for n in range(250)]

    async def scenario() -> tuple[list[h.Event], list[h.Event]]:
        store = await TableTaskHubStore.open(storage_connection_string, unique_name)
        try:
            await store.append_history("big", "e1", 0, many)
            full = (await store.load_history("big")).events
            # Rows written past the sentinel (a checkpoint cut short) are not history.
            await store.history.upsert_entity(h.to_row(many[0], "big", "e1", 250))
            return full, (await store.load_history("big")).events
        finally:
            await store.close()

    full, after_partial = asyncio.run(scenario())
    assert full == many
    assert after_partial == many


def test_an_instance_row_has_the_documented_columns(
    storage_connection_string: str, unique_name: str
) -> None:
    record = InstanceRecord(
        instance_id="row/1",
        execution_id="e-b",
        name="Orch",
        runtime_status=OrchestrationStatus.Completed,
        created_time=T0 + timedelta(hours=1),
        last_updated_time=T0 + timedelta(hours=1),
        input='"in"',
    )

    async def scenario() -> None:
        store = await TableTaskHubStore.open(storage_connection_string, unique_name)
        try:
            await store.put_instance(record)
        finally:
            await store.close()

    asyncio.run(scenario())
    row = TableClient.from_connection_string(
        storage_connection_string, f"{unique_name}Instances"
    ).get_entity("row^01", "")
    assert row["RuntimeStatus"] == "Completed"
    assert row["ExecutionId"] == "e-b"
    assert row["Name"] == "Orch"
    assert row["Input"] == '"in"'
    assert row["CustomStatus"] == "null"
    assert row["CreatedTime"] == T0 + timedelta(hours=1)
    assert row["TaskHubName"] == unique_name
