"""Optimistic concurrency on a real Azurite: what a lost race looks like, and how it is retried."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError

from saga.optimistic import is_conflict, retry_on_conflict
from saga.rows import LedgerTable, guarded_update


@pytest.fixture
def table(storage_connection_string: str, unique_name: str) -> Iterator[TableClient]:
    service = TableServiceClient.from_connection_string(storage_connection_string)
    with service.create_table(unique_name) as client:
        yield client


def test_a_batch_creating_an_existing_row_is_refused_whole_as_a_409_conflict(
    table: TableClient,
) -> None:
    # Forward steps skip reading their record on a first attempt because of exactly this.
    table.create_entity({"PartitionKey": "p", "RowKey": "record"})
    table.create_entity({"PartitionKey": "p", "RowKey": "stock", "Available": 5})
    stock = LedgerTable(table).read_fresh("p", "stock")
    assert stock is not None

    with pytest.raises(TableTransactionError) as caught:
        table.submit_transaction(
            [
                ("create", {"PartitionKey": "p", "RowKey": "record"}),
                guarded_update(stock, {"Available": 4}).operation,
            ]
        )

    assert caught.value.status_code == 409
    assert is_conflict(caught.value)
    assert table.get_entity("p", "stock")["Available"] == 5


def test_a_single_create_of_an_existing_row_is_a_409_conflict(table: TableClient) -> None:
    table.create_entity({"PartitionKey": "p", "RowKey": "record"})

    with pytest.raises(HttpResponseError) as caught:
        table.create_entity({"PartitionKey": "p", "RowKey": "record", "Status": "rejected"})

    assert caught.value.status_code == 409
    assert is_conflict(caught.value)
    assert "Status" not in table.get_entity("p", "record")


def test_after_a_conflicting_first_attempt_every_attempt_is_the_full_decision(
    table: TableClient,
) -> None:
    table.create_entity({"PartitionKey": "p", "RowKey": "record"})
    attempts: list[str] = []

    def presuming_no_record() -> str:
        attempts.append("first")
        table.create_entity({"PartitionKey": "p", "RowKey": "record"})
        return "created"

    def reading_the_record() -> str:
        attempts.append("decide")
        if len(attempts) < 3:
            table.create_entity({"PartitionKey": "p", "RowKey": "record"})
        return "read"

    outcome = retry_on_conflict("recording", reading_the_record, first=presuming_no_record)

    assert outcome == "read"
    assert attempts == ["first", "decide", "decide"]


def test_a_first_attempt_that_commits_is_the_only_attempt(table: TableClient) -> None:
    attempts: list[str] = []

    def presuming_no_record() -> str:
        attempts.append("first")
        table.create_entity({"PartitionKey": "p", "RowKey": "record"})
        return "created"

    def reading_the_record() -> str:
        attempts.append("decide")
        return "read"

    assert retry_on_conflict("recording", reading_the_record, first=presuming_no_record) == (
        "created"
    )
    assert attempts == ["first"]


def test_a_read_that_raced_a_write_does_not_replace_the_row_the_write_left(
    table: TableClient,
) -> None:
    # Another thread of this process commits while a read is on the wire: the older row that read
    # fetched must not become the remembered one, or the next guarded write would carry a stale
    # ETag and lose its race for nothing.
    table.create_entity({"PartitionKey": "p", "RowKey": "stock", "Available": 5})
    ledger = LedgerTable(table)
    fetch = table.get_entity

    def fetch_then_let_a_write_land(partition_key: str, row_key: str) -> object:
        fetched = fetch(partition_key, row_key)
        table.get_entity = fetch  # type: ignore[method-assign]
        current = LedgerTable(table).read_fresh(partition_key, row_key)
        assert current is not None
        ledger.commit([guarded_update(current, {"Available": 4})])
        return fetched

    table.get_entity = fetch_then_let_a_write_land  # type: ignore[method-assign]
    assert ledger.read_fresh("p", "stock")["Available"] == 5  # type: ignore[index]

    remembered = ledger.read("p", "stock")
    assert remembered is not None and remembered["Available"] == 4
    ledger.commit([guarded_update(remembered, {"Available": 3})])  # its ETag is storage's
    assert table.get_entity("p", "stock")["Available"] == 3
