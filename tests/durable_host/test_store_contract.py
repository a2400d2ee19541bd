"""One contract for every task hub store: the table store (against Azurite) and the in-memory one.

Whatever the engine relies on is asserted here for both, so an app tested on memory behaves the
same on storage: round trips, key order and paging, conditional creates, a new execution replacing
the old history, the inbox's order, purge, and the size limits of a table row.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta

import pytest

from durable_host import history as h
from durable_host.history import OrchestrationStatus
from durable_host.memory_store import MemoryTaskHubStore
from durable_host.store import (
    UNFINISHED,
    InstanceQuery,
    InstanceRecord,
    TaskHubStore,
    ValueTooLargeError,
)
from durable_host.table_store import TableTaskHubStore
from tests.durable_host.histories import T0, sample_history

OpenStore = Callable[[], AbstractAsyncContextManager[TaskHubStore]]


@pytest.fixture(params=["table", "memory"])
def open_store(request: pytest.FixtureRequest, unique_name: str) -> OpenStore:
    """`async with open_store() as store:` a fresh task hub of the parametrised kind."""
    if request.param == "memory":
        memory = MemoryTaskHubStore(unique_name)

        @asynccontextmanager
        async def in_memory() -> AsyncIterator[TaskHubStore]:
            yield memory

        return in_memory
    connection_string: str = request.getfixturevalue("storage_connection_string")

    @asynccontextmanager
    async def in_tables() -> AsyncIterator[TaskHubStore]:
        store = await TableTaskHubStore.open(connection_string, unique_name)
        try:
            yield store
        finally:
            await store.close()

    return in_tables


def run(open_store: OpenStore, scenario: Callable[[TaskHubStore], Awaitable[None]]) -> None:
    async def main() -> None:
        async with open_store() as store:
            await scenario(store)

    asyncio.run(main())


def record(instance_id: str, status: OrchestrationStatus, created: datetime = T0) -> InstanceRecord:
    return InstanceRecord(
        instance_id=instance_id,
        execution_id="e-" + instance_id,
        name="Orch",
        runtime_status=status,
        created_time=created,
        last_updated_time=created,
        input='"in"',
    )


def test_history_is_appended_in_episodes_and_read_back_whole_with_its_custom_status(
    open_store: OpenStore,
) -> None:
    events = sample_history("a/b#c", "exec1")

    async def scenario(store: TaskHubStore) -> None:
        assert await store.load_history("a/b#c") == (None, [], None)
        await store.append_history("a/b#c", "exec1", 0, events[:5], '{"step": 1}')
        assert await store.load_history("a/b#c") == ("exec1", events[:5], '{"step": 1}')
        await store.append_history("a/b#c", "exec1", 5, events[5:], '{"step": 2}')
        assert await store.load_history("a/b#c") == ("exec1", events, '{"step": 2}')

    run(open_store, scenario)


def test_a_history_longer_than_one_batch_round_trips(open_store: OpenStore) -> None:
    many = [h.event_raised(T0, f"E{n}", str(n)) for n in range(250)]

    async def scenario(store: TaskHubStore) -> None:
        await store.append_history("big", "e1", 0, many)
        assert await store.load_history("big") == ("e1", many, None)

    run(open_store, scenario)


def test_a_new_execution_replaces_the_previous_history(open_store: OpenStore) -> None:
    first = sample_history("again", "exec1")
    second = sample_history("again", "exec2")[:3]

    async def scenario(store: TaskHubStore) -> None:
        await store.append_history("again", "exec1", 0, first)
        await store.append_history("again", "exec2", 0, second)
        assert await store.load_history("again") == ("exec2", second, None)

    run(open_store, scenario)


def test_a_stored_event_is_a_copy(open_store: OpenStore) -> None:
    events = sample_history("copy", "exec1")

    async def scenario(store: TaskHubStore) -> None:
        await store.append_history("copy", "exec1", 0, events)
        events[1]["OrchestrationInstance"]["InstanceId"] = "changed afterwards"
        loaded = (await store.load_history("copy")).events
        assert loaded[1]["OrchestrationInstance"]["InstanceId"] == "copy"

    run(open_store, scenario)


def test_status_rows_round_trip_and_a_create_never_overwrites(open_store: OpenStore) -> None:
    async def scenario(store: TaskHubStore) -> None:
        first = record("row", OrchestrationStatus.Pending)
        assert await store.add_instance(first)
        second = record("row", OrchestrationStatus.Running, T0 + timedelta(hours=1))
        assert not await store.add_instance(second)
        assert await store.get_instance("row") == first
        first.output = "mutated after writing"
        assert (await store.get_instance("row")) == record("row", OrchestrationStatus.Pending)
        await store.put_instance(second)
        assert await store.get_instance("row") == second
        assert await store.get_instance("missing") is None

    run(open_store, scenario)


def test_queries_filter_by_prefix_status_and_creation_time(open_store: OpenStore) -> None:
    async def scenario(store: TaskHubStore) -> None:
        for item in [
            record("q-a", OrchestrationStatus.Running, T0),
            record("q-b", OrchestrationStatus.Completed, T0 + timedelta(hours=1)),
            record("q-c", OrchestrationStatus.Failed, T0 + timedelta(hours=2)),
            record("q-zz", OrchestrationStatus.Pending, T0),
            record("other", OrchestrationStatus.Suspended, T0),
        ]:
            await store.put_instance(item)

        async def ids(query: InstanceQuery) -> list[str]:
            found, token = await store.query_instances(query)
            assert token is None
            return [r.instance_id for r in found]

        assert await ids(InstanceQuery(id_prefix="q-")) == ["q-a", "q-b", "q-c", "q-zz"]
        finished = frozenset({OrchestrationStatus.Completed, OrchestrationStatus.Failed})
        assert await ids(InstanceQuery(statuses=finished)) == ["q-b", "q-c"]
        window = InstanceQuery(
            created_from=T0 + timedelta(minutes=30), created_to=T0 + timedelta(hours=1)
        )
        assert await ids(window) == ["q-b"]
        assert await ids(InstanceQuery(statuses=UNFINISHED)) == ["other", "q-a", "q-zz"]

    run(open_store, scenario)


def test_queries_page_in_key_order_with_a_token(open_store: OpenStore) -> None:
    names = [f"page-{n:02d}" for n in range(7)]

    async def scenario(store: TaskHubStore) -> None:
        for name in reversed(names):
            await store.put_instance(record(name, OrchestrationStatus.Completed))
        seen: list[str] = []
        token: str | None = None
        pages = 0
        while True:
            page, token = await store.query_instances(InstanceQuery(id_prefix="page-"), 3, token)
            seen += [r.instance_id for r in page]
            pages += 1
            if token is None:
                break
        assert seen == names
        assert pages == 3
        with pytest.raises(ValueError):
            await store.query_instances(InstanceQuery(), 3, "not a token")

    run(open_store, scenario)


def test_the_inbox_keeps_arrival_order_until_deleted(open_store: OpenStore) -> None:
    async def scenario(store: TaskHubStore) -> None:
        keys = [
            await store.add_message("i/1", h.event_raised(T0, f"E{n}", str(n)), "x")
            for n in range(5)
        ]
        await store.add_message("i/0", h.event_raised(T0, "Other", None))
        pending = await store.pending_messages()
        assert [(m.instance_id, m.event["Name"]) for m in pending] == [("i/0", "Other")] + [
            ("i/1", f"E{n}") for n in range(5)
        ]
        assert [m.execution_id for m in pending] == [None] + ["x"] * 5
        await store.delete_messages("i/1", [*keys[:3], "already-gone"])
        assert [m.row_key for m in await store.pending_messages() if m.instance_id == "i/1"] == (
            keys[3:]
        )

    run(open_store, scenario)


def test_purge_removes_row_history_and_inbox(open_store: OpenStore) -> None:
    async def scenario(store: TaskHubStore) -> None:
        await store.put_instance(record("gone", OrchestrationStatus.Completed))
        await store.append_history("gone", "e-gone", 0, sample_history("gone", "e-gone"))
        await store.add_message("gone", h.event_raised(T0, "Late", None))
        assert await store.purge("gone")
        assert not await store.purge("gone")
        assert await store.get_instance("gone") is None
        assert await store.load_history("gone") == (None, [], None)
        assert await store.pending_messages() == []
        found, _ = await store.query_instances(InstanceQuery())
        assert found == []

    run(open_store, scenario)


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("a" * 32_768, True),
        ("a" * 32_769, False),
        ("\U0001f600" * 16_384, True),  # an emoji takes two UTF-16 units
        ("\U0001f600" * 16_385, False),
    ],
)
def test_a_value_fits_exactly_when_a_table_property_holds_it(
    open_store: OpenStore, text: str, fits: bool
) -> None:
    async def scenario(store: TaskHubStore) -> None:
        row = record("sized", OrchestrationStatus.Running)
        row.input = text
        event = h.task_completed(T0, 0, text)
        for write in (store.put_instance(row), store.append_history("sized", "e1", 0, [event])):
            if fits:
                await write
            else:
                with pytest.raises(ValueTooLargeError):
                    await write

    run(open_store, scenario)


def test_a_message_too_large_for_a_row_is_refused(open_store: OpenStore) -> None:
    async def scenario(store: TaskHubStore) -> None:
        await store.add_message("m", h.event_raised(T0, "Small", "x" * 30_000))
        with pytest.raises(ValueTooLargeError):
            await store.add_message("m", h.event_raised(T0, "Big", "x" * 33_000))
        assert [m.event["Name"] for m in await store.pending_messages()] == ["Small"]

    run(open_store, scenario)
