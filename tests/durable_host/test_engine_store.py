"""The task hub tables: DurableTask.AzureStorage's layout, readable by any table client."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

from azure.data.tables import TableClient

from durable_host import history as h
from durable_host.history import OrchestrationStatus
from durable_host.store import (
    InstanceQuery,
    InstanceRecord,
    TaskHubStore,
    ValueTooLargeError,
    fits_in_a_property,
    sanitize_key,
    unsanitize_key,
)

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def sample_history() -> list[h.Event]:
    return [
        h.orchestrator_started(T0),
        h.execution_started(T0, "a/b#c", "exec1", "Orch", '"input"'),
        h.task_scheduled(T0, 0, "Act", '{"x": 1}'),
        h.timer_created(T0, 1, T0 + timedelta(minutes=5)),
        h.orchestrator_completed(T0),
        h.orchestrator_started(T0),
        h.task_completed(T0, 0, '"done"'),
        h.timer_fired(T0, 1, h.format_timestamp(T0 + timedelta(minutes=5))),
        h.event_raised(T0, "Go", None),
        h.execution_completed(T0, 2, OrchestrationStatus.Completed, '"out"'),
    ]


def test_instance_ids_are_escaped_for_table_keys() -> None:
    assert sanitize_key("a/b\\c#d?e^f") == "a^0b^1c^2d^3e^^f"
    for instance_id in ["plain", "a/b\\c#d?e^f", "^^0", "x^"]:
        assert unsanitize_key(sanitize_key(instance_id)) == instance_id


def test_history_round_trips_and_is_stored_in_the_documented_layout(
    storage_connection_string: str, unique_name: str
) -> None:
    events = sample_history()

    async def scenario() -> tuple[str | None, list[h.Event]]:
        store = await TaskHubStore.open(storage_connection_string, unique_name)
        try:
            await store.append_history("a/b#c", "exec1", 0, events[:5])
            await store.append_history("a/b#c", "exec1", 5, events[5:])
            return await store.load_history("a/b#c")
        finally:
            await store.close()

    execution_id, loaded = asyncio.run(scenario())
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


def test_history_beyond_one_batch_and_an_unfinished_checkpoint(
    storage_connection_string: str, unique_name: str
) -> None:
    many = [h.event_raised(T0, f"E{n}", str(n)) for n in range(250)]

    async def scenario() -> tuple[list[h.Event], list[h.Event]]:
        store = await TaskHubStore.open(storage_connection_string, unique_name)
        try:
            await store.append_history("big", "e1", 0, many)
            full = (await store.load_history("big"))[1]
            # Rows written past the sentinel (a checkpoint cut short) are not history.
            await store.history.upsert_entity(h.to_row(many[0], "big", "e1", 250))
            return full, (await store.load_history("big"))[1]
        finally:
            await store.close()

    full, after_partial = asyncio.run(scenario())
    assert full == many
    assert after_partial == many


def test_instance_rows_and_queries(storage_connection_string: str, unique_name: str) -> None:
    prefix = "p" + uuid.uuid4().hex[:6]

    def record(suffix: str, status: OrchestrationStatus, created: datetime) -> InstanceRecord:
        return InstanceRecord(
            instance_id=f"{prefix}-{suffix}",
            execution_id="e-" + suffix,
            name="Orch",
            runtime_status=status,
            created_time=created,
            last_updated_time=created,
            input='"in"',
        )

    records = [
        record("a", OrchestrationStatus.Running, T0),
        record("b", OrchestrationStatus.Completed, T0 + timedelta(hours=1)),
        record("c", OrchestrationStatus.Failed, T0 + timedelta(hours=2)),
    ]

    async def scenario() -> dict[str, list[str]]:
        store = await TaskHubStore.open(storage_connection_string, unique_name)
        try:
            for item in records:
                await store.put_instance(item)
            await store.put_instance(record("zz", OrchestrationStatus.Pending, T0))
            results: dict[str, list[str]] = {}

            async def ids(query: InstanceQuery) -> list[str]:
                found, _ = await store.query_instances(query)
                return sorted(r.instance_id for r in found)

            results["prefix"] = await ids(InstanceQuery(id_prefix=prefix + "-"))
            results["status"] = await ids(
                InstanceQuery(
                    statuses=frozenset({OrchestrationStatus.Completed, OrchestrationStatus.Failed})
                )
            )
            results["time"] = await ids(
                InstanceQuery(
                    created_from=T0 + timedelta(minutes=30), created_to=T0 + timedelta(hours=1)
                )
            )
            results["unfinished"] = sorted(
                r.instance_id for r in await store.unfinished_instances()
            )
            loaded = await store.get_instance(f"{prefix}-a")
            assert loaded == records[0]
            assert await store.purge(f"{prefix}-a")
            assert not await store.purge(f"{prefix}-a")
            assert await store.get_instance(f"{prefix}-a") is None
            return results
        finally:
            await store.close()

    results = asyncio.run(scenario())
    assert results["prefix"] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c", f"{prefix}-zz"]
    assert results["status"] == [f"{prefix}-b", f"{prefix}-c"]
    assert results["time"] == [f"{prefix}-b"]
    assert results["unfinished"] == [f"{prefix}-a", f"{prefix}-zz"]

    row = TableClient.from_connection_string(
        storage_connection_string, f"{unique_name}Instances"
    ).get_entity(f"{prefix}-b", "")
    assert row["RuntimeStatus"] == "Completed"
    assert row["ExecutionId"] == "e-b"
    assert row["Input"] == '"in"'
    assert row["CustomStatus"] == "null"
    assert row["CreatedTime"] == T0 + timedelta(hours=1)
    assert row["TaskHubName"] == unique_name


def test_inbox_keeps_messages_in_arrival_order_until_deleted(
    storage_connection_string: str, unique_name: str
) -> None:
    async def scenario() -> None:
        store = await TaskHubStore.open(storage_connection_string, unique_name)
        try:
            keys = [
                await store.add_message("i/1", h.event_raised(T0, f"E{n}", str(n)), "x")
                for n in range(5)
            ]
            pending = await store.pending_messages()
            assert [m.event["Name"] for m in pending] == [f"E{n}" for n in range(5)]
            assert {m.instance_id for m in pending} == {"i/1"}
            assert {m.execution_id for m in pending} == {"x"}
            await store.delete_messages("i/1", keys[:3])
            assert [m.row_key for m in await store.pending_messages()] == keys[3:]
        finally:
            await store.close()

    asyncio.run(scenario())


def test_the_property_size_check_agrees_with_storage(
    storage_connection_string: str, unique_name: str
) -> None:
    # The engine fails an activity whose result would not fit before it tries to store it, so
    # its check must draw the line where storage does: 32K UTF-16 units (an emoji takes two).
    texts = ["a" * 32_768, "a" * 32_769, "\U0001f600" * 16_384, "\U0001f600" * 16_385]

    async def stored(text: str) -> bool:
        store = await TaskHubStore.open(storage_connection_string, unique_name)
        record = InstanceRecord(
            instance_id="sized",
            execution_id="e1",
            name="Orch",
            runtime_status=OrchestrationStatus.Running,
            created_time=T0,
            last_updated_time=T0,
            input=text,
        )
        try:
            await store.put_instance(record)
        except ValueTooLargeError:
            return False
        finally:
            await store.close()
        return True

    assert [asyncio.run(stored(text)) for text in texts] == [True, False, True, False]
    assert [fits_in_a_property(text) for text in texts] == [True, False, True, False]
