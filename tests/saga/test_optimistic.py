"""Optimistic concurrency on a real Azurite: what a lost race looks like."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError

from saga.optimistic import guarded_update, is_conflict, read_row


@pytest.fixture
def table(storage_connection_string: str, unique_name: str) -> Iterator[TableClient]:
    service = TableServiceClient.from_connection_string(storage_connection_string)
    with service.create_table(unique_name) as client:
        yield client


def test_a_batch_creating_an_existing_row_is_refused_whole_as_a_409_conflict(
    table: TableClient,
) -> None:
    table.create_entity({"PartitionKey": "p", "RowKey": "record"})
    table.create_entity({"PartitionKey": "p", "RowKey": "stock", "Available": 5})
    stock = read_row(table, "p", "stock")
    assert stock is not None

    with pytest.raises(TableTransactionError) as caught:
        table.submit_transaction(
            [
                ("create", {"PartitionKey": "p", "RowKey": "record"}),
                guarded_update(stock, {"Available": 4}),
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
