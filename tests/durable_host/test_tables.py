"""durable_host.tables against the real Azurite, and next to azure-data-tables on the same rows."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from aiohttp import web
from azure.data.tables import EdmType, EntityProperty, TableClient

from durable_host.azurite import ACCOUNT, ACCOUNT_KEY, free_port
from durable_host.tables import (
    Account,
    BatchError,
    EntityExistsError,
    EntityNotFoundError,
    Operation,
    PreconditionFailedError,
    Table,
    TableError,
    TableService,
    bind_filter,
)

T = TypeVar("T")
MOMENT = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def run_with_table(
    connection_string: str, name: str, scenario: Callable[[Table], Awaitable[T]]
) -> T:
    async def main() -> T:
        async with TableService.from_connection_string(connection_string) as service:
            table = service.table(name)
            await table.create_table()
            return await scenario(table)

    return asyncio.run(main())


# Connection strings


def test_development_storage_is_the_emulators_well_known_account() -> None:
    account = Account.from_connection_string("UseDevelopmentStorage=true")
    assert account.name == ACCOUNT
    assert account.key == base64.b64decode(ACCOUNT_KEY)
    assert account.endpoint == f"http://127.0.0.1:10002/{ACCOUNT}"


def test_connection_string_with_and_without_a_table_endpoint() -> None:
    key = base64.b64encode(b"k" * 32).decode()
    cloud = Account.from_connection_string(
        f"DefaultEndpointsProtocol=https;AccountName=shop;AccountKey={key};"
        "EndpointSuffix=core.example.net"
    )
    assert cloud == Account("shop", b"k" * 32, "https://shop.table.core.example.net")
    explicit = Account.from_connection_string(
        f"AccountName=shop;AccountKey={key};TableEndpoint=http://10.0.0.5:9000/shop/;"
    )
    assert explicit.endpoint == "http://10.0.0.5:9000/shop"


def test_connection_string_without_a_key_says_what_is_missing() -> None:
    with pytest.raises(ValueError, match="AccountKey"):
        Account.from_connection_string("AccountName=shop;SharedAccessSignature=sv=2020")
    with pytest.raises(ValueError, match="not base64"):
        Account.from_connection_string("AccountName=shop;AccountKey=not*base64")


# Entities


def test_create_table_twice_and_read_a_missing_entity(
    storage_connection_string: str, unique_name: str
) -> None:
    async def scenario(table: Table) -> Any:
        await table.create_table()
        return await table.get_entity("nobody", "nothing")

    assert run_with_table(storage_connection_string, unique_name, scenario) is None


def test_insert_conflict_upsert_modes_and_update_guards(
    storage_connection_string: str, unique_name: str
) -> None:
    async def scenario(table: Table) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        first = await table.create_entity({"PartitionKey": "p", "RowKey": "r", "A": 1, "B": "b"})
        with pytest.raises(EntityExistsError) as exists:
            await table.create_entity({"PartitionKey": "p", "RowKey": "r", "A": 2})
        seen["conflict"] = (exists.value.status, exists.value.code)
        await table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "C": 3}, mode="merge")
        seen["merged"] = dict(await table.get_entity("p", "r") or {})
        await table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "A": 4})
        replaced = await table.get_entity("p", "r")
        assert replaced is not None
        seen["replaced"] = dict(replaced)
        with pytest.raises(PreconditionFailedError) as stale:
            await table.update_entity({"PartitionKey": "p", "RowKey": "r", "A": 5}, etag=first)
        seen["stale"] = (stale.value.status, stale.value.code)
        await table.update_entity({"PartitionKey": "p", "RowKey": "r", "A": 6}, etag=replaced.etag)
        seen["updated"] = dict(await table.get_entity("p", "r") or {})
        with pytest.raises(EntityNotFoundError) as missing:
            await table.update_entity({"PartitionKey": "p", "RowKey": "gone", "A": 7}, mode="merge")
        seen["missing"] = missing.value.status
        return seen

    seen = run_with_table(storage_connection_string, unique_name, scenario)
    assert seen["conflict"] == (409, "EntityAlreadyExists")
    assert seen["merged"] == {"PartitionKey": "p", "RowKey": "r", "A": 1, "B": "b", "C": 3}
    assert seen["replaced"] == {"PartitionKey": "p", "RowKey": "r", "A": 4}
    assert seen["stale"] == (412, "UpdateConditionNotSatisfied")
    assert seen["updated"] == {"PartitionKey": "p", "RowKey": "r", "A": 6}
    assert seen["missing"] == 404


def test_delete_with_and_without_tolerating_a_missing_row(
    storage_connection_string: str, unique_name: str
) -> None:
    async def scenario(table: Table) -> tuple[Any, int, int]:
        etag = await table.create_entity({"PartitionKey": "p", "RowKey": "r"})
        await table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "Changed": True})
        with pytest.raises(PreconditionFailedError) as stale:
            await table.delete_entity("p", "r", etag=etag)
        await table.delete_entity("p", "r")
        await table.delete_entity("p", "r", missing_ok=True)
        with pytest.raises(EntityNotFoundError) as missing:
            await table.delete_entity("p", "r")
        return await table.get_entity("p", "r"), stale.value.status, missing.value.status

    assert run_with_table(storage_connection_string, unique_name, scenario) == (None, 412, 404)


def test_keys_with_quotes_percent_signs_spaces_and_unicode(
    storage_connection_string: str, unique_name: str
) -> None:
    keys = [("O'Brien", "a''b"), ("100% sure", "x y"), ("a^0b^2c", "ünï€ode"), ("(p)", "=&+")]

    async def scenario(table: Table) -> list[Any]:
        for partition_key, row_key in keys:
            await table.upsert_entity(
                {"PartitionKey": partition_key, "RowKey": row_key, "V": row_key}
            )
        found = [await table.get_entity(pk, rk) for pk, rk in keys]
        for partition_key, row_key in keys:
            await table.delete_entity(partition_key, row_key)
        return [row["V"] if row else None for row in found] + [(await table.query_page()).rows]

    assert run_with_table(storage_connection_string, unique_name, scenario) == [
        *(row_key for _, row_key in keys),
        [],
    ]


# Types, also across azure-data-tables


def typed_entity(partition_key: str) -> dict[str, Any]:
    return {
        "PartitionKey": partition_key,
        "RowKey": "r",
        "Text": "it's",
        "Small": -7,
        "Big": 2**40,
        "Flag": True,
        "Ratio": 0.25,
        "Whole": 3.0,
        "When": MOMENT,
        "Id": uuid.UUID(int=42),
        "Raw": b"\x00\xff",
    }


def test_types_round_trip_and_match_azure_data_tables_both_ways(
    storage_connection_string: str, unique_name: str
) -> None:
    sdk_table = TableClient.from_connection_string(storage_connection_string, unique_name)

    async def scenario(table: Table) -> tuple[Any, Any]:
        await table.upsert_entity(typed_entity("ours"))
        # The SDK needs the Int64 spelled out; everything else it types from the Python value.
        sdk_table.upsert_entity({**typed_entity("sdk"), "Big": (2**40, EdmType.INT64)})
        return await table.get_entity("ours", "r"), await table.get_entity("sdk", "r")

    ours, sdk_written = run_with_table(storage_connection_string, unique_name, scenario)
    expected = typed_entity("ours")
    assert dict(ours) == expected
    assert dict(sdk_written) == {**expected, "PartitionKey": "sdk"}
    assert ours["When"].tzinfo is not None

    read_by_sdk = sdk_table.get_entity("ours", "r")
    sdk_own = sdk_table.get_entity("sdk", "r")
    assert dict(read_by_sdk) == {**dict(sdk_own), "PartitionKey": "ours"}
    assert read_by_sdk["When"] == MOMENT
    assert read_by_sdk["Big"] == EntityProperty(2**40, EdmType.INT64)
    assert read_by_sdk["When"].tables_service_value == sdk_own["When"].tables_service_value


def test_rows_carry_etag_and_timestamp_and_only_selected_columns(
    storage_connection_string: str, unique_name: str
) -> None:
    async def scenario(table: Table) -> tuple[str | None, Any, Any]:
        etag = await table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "A": 1, "B": 2})
        return etag, await table.get_entity("p", "r"), await table.get_entity("p", "r", ["B"])

    etag, row, selected = run_with_table(storage_connection_string, unique_name, scenario)
    assert row.etag == etag
    assert row.timestamp is not None
    assert abs(row.timestamp - datetime.now(UTC)) < timedelta(minutes=5)
    assert "Timestamp" not in row
    assert dict(selected) == {"B": 2}


# Queries


def test_filter_parameters_are_quoted_not_interpolated(
    storage_connection_string: str, unique_name: str
) -> None:
    names = ["O'Brien", "' or ''='", "plain", "@not_a_parameter"]

    async def scenario(table: Table) -> dict[str, list[str]]:
        for index, name in enumerate(names):
            await table.upsert_entity({"PartitionKey": "p", "RowKey": str(index), "Name": name})
        found = {}
        for name in names:
            page = await table.query_page("PartitionKey eq 'p' and Name eq @name", {"name": name})
            found[name] = [row["Name"] for row in page.rows]
        literal = await table.query_page("Name eq '@not_a_parameter'")
        found["literal"] = [row["Name"] for row in literal.rows]
        return found

    found = run_with_table(storage_connection_string, unique_name, scenario)
    assert found == {name: [name] for name in names} | {"literal": ["@not_a_parameter"]}


def test_filter_literals_for_each_type() -> None:
    assert (
        bind_filter(
            "A eq @s and B eq @i and C eq @l and D eq @b and E ge @d and F eq @f and G eq '@s'",
            {"s": "it's", "i": 5, "l": 2**40, "b": False, "d": MOMENT, "f": 0.5},
        )
        == "A eq 'it''s' and B eq 5 and C eq 1099511627776L and D eq false"
        " and E ge datetime'2026-03-04T05:06:07.123456Z' and F eq 0.5 and G eq '@s'"
    )
    with pytest.raises(ValueError, match="@missing"):
        bind_filter("A eq @missing", {})


def test_select_top_and_continuation_over_more_than_a_page(
    storage_connection_string: str, unique_name: str
) -> None:
    total = 1234

    async def scenario(table: Table) -> tuple[int, list[int], list[str], dict[str, Any]]:
        for start in range(0, total, 100):
            await table.submit_transaction(
                [
                    Operation("upsert", {"PartitionKey": "p", "RowKey": f"{n:05d}", "N": n})
                    for n in range(start, min(start + 100, total))
                ]
            )
        everything = [row async for row in table.query_entities("PartitionKey eq @p", {"p": "p"})]
        pages: list[int] = []
        keys: list[str] = []
        continuation: str | None = None
        while True:
            page = await table.query_page(
                "N lt 50", select=["RowKey"], top=7, continuation=continuation
            )
            pages.append(len(page.rows))
            keys += [row["RowKey"] for row in page.rows]
            if page.continuation is None:
                break
            continuation = page.continuation
        return len(everything), pages, keys, dict(page.rows[-1])

    count, pages, keys, last = run_with_table(storage_connection_string, unique_name, scenario)
    assert count == total
    assert sum(pages) == 50 and max(pages) == 7
    assert keys == [f"{n:05d}" for n in range(50)]
    assert last == {"RowKey": "00049"}


# Batches


def test_a_failing_operation_leaves_the_whole_batch_unwritten(
    storage_connection_string: str, unique_name: str
) -> None:
    async def scenario(table: Table) -> tuple[BatchError, list[Any]]:
        await table.create_entity({"PartitionKey": "p", "RowKey": "taken", "V": "original"})
        with pytest.raises(BatchError) as failed:
            await table.submit_transaction(
                [
                    Operation("upsert", {"PartitionKey": "p", "RowKey": "new1", "V": 1}),
                    Operation("upsert", {"PartitionKey": "p", "RowKey": "new2", "V": 2}),
                    Operation("insert", {"PartitionKey": "p", "RowKey": "taken", "V": "x"}),
                ]
            )
        rows = (await table.query_page("PartitionKey eq 'p'")).rows
        return failed.value, [(row["RowKey"], row["V"]) for row in rows]

    error, rows = run_with_table(storage_connection_string, unique_name, scenario)
    assert rows == [("taken", "original")]
    assert (error.index, error.status, error.code) == (2, 409, "EntityAlreadyExists")
    assert "operation 2" in str(error)


def test_batch_etags_guard_updates_and_deletes(
    storage_connection_string: str, unique_name: str
) -> None:
    async def scenario(table: Table) -> tuple[BatchError, dict[str, Any]]:
        for key in ("a", "b", "c"):
            await table.upsert_entity({"PartitionKey": "p", "RowKey": key, "V": 0})
        read = {key: await table.get_entity("p", key) for key in ("a", "b", "c")}
        etags = {key: row.etag for key, row in read.items() if row is not None}
        await table.upsert_entity({"PartitionKey": "p", "RowKey": "b", "V": 1})
        stale = [
            Operation("update", {"PartitionKey": "p", "RowKey": "a", "V": 2}, etag=etags["a"]),
            Operation("update", {"PartitionKey": "p", "RowKey": "b", "V": 2}, etag=etags["b"]),
        ]
        with pytest.raises(BatchError) as conflict:
            await table.submit_transaction(stale)
        fresh = await table.get_entity("p", "b")
        assert fresh is not None
        await table.submit_transaction(
            [
                Operation(
                    "update", {"PartitionKey": "p", "RowKey": "a", "W": 3}, "merge", etags["a"]
                ),
                Operation("update", {"PartitionKey": "p", "RowKey": "b", "V": 3}, etag=fresh.etag),
                Operation("delete", {"PartitionKey": "p", "RowKey": "c"}, etag=etags["c"]),
            ]
        )
        rows = (await table.query_page()).rows
        return conflict.value, {row["RowKey"]: (row["V"], row.get("W")) for row in rows}

    error, values = run_with_table(storage_connection_string, unique_name, scenario)
    assert (error.index, error.status, error.code) == (1, 412, "UpdateConditionNotSatisfied")
    assert values == {"a": (0, 3), "b": (3, None)}


def test_deleting_a_missing_row_in_a_batch_is_a_404_naming_it(
    storage_connection_string: str, unique_name: str
) -> None:
    async def scenario(table: Table) -> tuple[BatchError, list[str]]:
        for key in ("a", "b"):
            await table.upsert_entity({"PartitionKey": "p", "RowKey": key})
        with pytest.raises(BatchError) as missing:
            await table.submit_transaction(
                [Operation("delete", {"PartitionKey": "p", "RowKey": key}) for key in "abc"]
            )
        return missing.value, [row["RowKey"] async for row in table.query_entities()]

    error, left = run_with_table(storage_connection_string, unique_name, scenario)
    assert (error.index, error.status, error.code) == (2, 404, "ResourceNotFound")
    assert left == ["a", "b"]


def test_batches_of_a_hundred_in_one_partition_only(
    storage_connection_string: str, unique_name: str
) -> None:
    def row(partition_key: str, n: int) -> Operation:
        return Operation("insert", {"PartitionKey": partition_key, "RowKey": str(n)})

    async def scenario(table: Table) -> int:
        await table.submit_transaction([row("p", n) for n in range(100)])
        with pytest.raises(ValueError, match="at most 100"):
            await table.submit_transaction([row("q", n) for n in range(101)])
        with pytest.raises(ValueError, match="one partition"):
            await table.submit_transaction([row("q", 0), row("r", 1)])
        return len([item async for item in table.query_entities()])

    assert run_with_table(storage_connection_string, unique_name, scenario) == 100


# Errors and retries


class FlakyTableServer:
    """A loopback server answering 503 a set number of times before serving an empty table."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests = 0
        self.port = free_port()

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.requests <= self.failures:
            return web.json_response(
                {"odata.error": {"code": "ServerBusy", "message": {"value": "Try later"}}},
                status=503,
            )
        if request.method == "POST":
            return web.Response(status=204)
        return web.json_response({"value": []})

    async def serve(self, scenario: Callable[[Table], Awaitable[T]]) -> T:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        try:
            account = Account("shop", b"key", f"http://127.0.0.1:{self.port}/shop")
            async with TableService(account) as service:
                return await scenario(service.table("Orders"))
        finally:
            await runner.cleanup()


def test_server_errors_are_retried_for_reads_but_not_for_inserts() -> None:
    reads = FlakyTableServer(failures=2)

    async def query(table: Table) -> int:
        return len((await table.query_page()).rows)

    assert asyncio.run(reads.serve(query)) == 0
    assert reads.requests == 3

    inserts = FlakyTableServer(failures=1)

    async def insert(table: Table) -> None:
        await table.create_entity({"PartitionKey": "p", "RowKey": "r"})

    with pytest.raises(TableError) as refused:
        asyncio.run(inserts.serve(insert))
    assert inserts.requests == 1
    assert (refused.value.status, refused.value.code) == (503, "ServerBusy")


def test_an_unreachable_service_raises_after_retrying() -> None:
    account = Account("shop", b"key", f"http://127.0.0.1:{free_port()}/shop")

    async def scenario() -> None:
        async with TableService(account) as service:
            await service.table("Orders").get_entity("p", "r")

    with pytest.raises(TableError) as unreachable:
        asyncio.run(scenario())
    assert (unreachable.value.status, unreachable.value.code) == (0, "ConnectionFailed")
    assert "Reading ('p', 'r') in table Orders" in str(unreachable.value)


def test_a_wrong_account_key_is_refused_with_the_services_code(
    storage_connection_string: str, unique_name: str
) -> None:
    real = Account.from_connection_string(storage_connection_string)
    forged = Account(real.name, b"not the key", real.endpoint)

    async def scenario() -> None:
        async with TableService(forged) as service:
            await service.table(unique_name).create_table()

    with pytest.raises(TableError) as refused:
        asyncio.run(scenario())
    assert refused.value.status == 403
