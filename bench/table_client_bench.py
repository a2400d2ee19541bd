"""Table client cost: azure-data-tables (async) against durable_host.tables, on a throwaway Azurite.

For each operation durable_host uses (point read, upsert, a one-partition query returning 10
rows, a 5-row entity-group batch) both clients run the same number of operations with the same
number in flight. CPU ms/op is this process's CPU time (Azurite runs in its own process) divided
by the operations; ops/s is wall-clock throughput. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from durable_host.azurite import Azurite
from durable_host.tables import Operation, Table, TableService

QUERY_ROWS = 10
BATCH_ROWS = 5

Step = Callable[[int], Awaitable[object]]


@dataclass
class Measurement:
    client: str
    operation: str
    count: int
    cpu_seconds: float
    wall_seconds: float

    @property
    def cpu_ms_per_op(self) -> float:
        return self.cpu_seconds / self.count * 1000

    @property
    def ops_per_second(self) -> float:
        return self.count / self.wall_seconds


def _row(partition: str, index: int) -> dict[str, object]:
    return {
        "PartitionKey": partition,
        "RowKey": f"{index:016X}",
        "EventType": "TaskCompleted",
        "EventId": -1,
        "IsPlayed": False,
        "Result": '{"ok": true, "amount": "12.50"}',
        "TaskScheduledId": index,
    }


async def _measure(
    client: str, operation: str, count: int, in_flight: int, step: Step
) -> Measurement:
    await step(0)  # warm the connection pool and the table
    gate = asyncio.Semaphore(in_flight)

    async def bounded(index: int) -> None:
        async with gate:
            await step(index)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(bounded(index) for index in range(count)))
    return Measurement(
        client, operation, count, time.process_time() - cpu, time.perf_counter() - wall
    )


def _sdk_steps(table: TableClient) -> dict[str, Step]:
    async def get(index: int) -> object:
        return await table.get_entity("read", f"{index % QUERY_ROWS:016X}")

    async def upsert(index: int) -> object:
        return await table.upsert_entity(_row("upsert", index), mode=UpdateMode.REPLACE)

    async def query(index: int) -> object:
        return [row async for row in table.query_entities("PartitionKey eq 'read'")]

    async def batch(index: int) -> object:
        partition = f"batch{index}"
        return await table.submit_transaction(
            [
                ("upsert", _row(partition, n), {"mode": UpdateMode.REPLACE})
                for n in range(BATCH_ROWS)
            ]
        )

    return {"get": get, "upsert": upsert, "query": query, "batch": batch}


def _our_steps(table: Table) -> dict[str, Step]:
    async def get(index: int) -> object:
        return await table.get_entity("read", f"{index % QUERY_ROWS:016X}")

    async def upsert(index: int) -> object:
        return await table.upsert_entity(_row("upsert", index))

    async def query(index: int) -> object:
        return [row async for row in table.query_entities("PartitionKey eq 'read'")]

    async def batch(index: int) -> object:
        partition = f"batch{index}"
        await table.submit_transaction(
            [Operation("upsert", _row(partition, n)) for n in range(BATCH_ROWS)]
        )
        return None

    return {"get": get, "upsert": upsert, "query": query, "batch": batch}


async def run(connection_string: str, count: int, in_flight: int) -> list[Measurement]:
    results: list[Measurement] = []
    sdk_table = TableClient.from_connection_string(connection_string, "BenchSdk")
    async with sdk_table, TableService.from_connection_string(connection_string) as service:
        ours = service.table("BenchOurs")
        await sdk_table.create_table()
        await ours.create_table()
        for index in range(QUERY_ROWS):
            await sdk_table.upsert_entity(_row("read", index))
            await ours.upsert_entity(_row("read", index))
        sdk, lean = _sdk_steps(sdk_table), _our_steps(ours)
        for operation in sdk:
            results.append(
                await _measure("azure-data-tables", operation, count, in_flight, sdk[operation])
            )
            results.append(
                await _measure("durable_host.tables", operation, count, in_flight, lean[operation])
            )
    return results


def table(results: list[Measurement]) -> str:
    lines = [
        "| operation | client | ops | CPU ms/op | ops/s |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {m.operation} | {m.client} | {m.count} "
        f"| {m.cpu_ms_per_op:.2f} | {m.ops_per_second:.0f} |"
        for m in results
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.table_client_bench", description=__doc__)
    parser.add_argument("--ops", type=int, default=500, help="operations per client and kind")
    parser.add_argument("--concurrency", type=int, default=16, help="operations in flight")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder, Azurite(Path(folder)) as azurite:
        results = asyncio.run(run(azurite.connection_string, args.ops, args.concurrency))
    print(
        f"Table clients on Azurite: {args.ops} operations each, {args.concurrency} in flight; "
        f"query = {QUERY_ROWS} rows, batch = {BATCH_ROWS} upserts.\n"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
