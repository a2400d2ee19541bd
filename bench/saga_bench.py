"""`make bench`: sagas per second, latency, storage requests and CPU per saga, on five runs.

On each runtime, N sagas with bounded concurrency (every second one is refused payment and
compensates); each client starts a saga and polls its status until it is terminal.

  durable_host          the app on durable_host (a subprocess) and its own Azurite with its access
                        log on, seeded with rich and broke customers and many SKUs; sagas start and
                        are polled over HTTP. Storage requests are split between the app's ledger
                        tables and the task hub's.
  durable_host-hot-sku  the same, with every order on one SKU (a flash sale).
  durable_host-memory   the same saga shape on durable_host's in-memory task hub, with the
                        dictionary ledgers the peers use: no storage at all.
  dbos                  the same saga shape on DBOS Transact, checkpointing to a SQLite file, in
                        one process with its clients.
  durabletask           the same saga shape on durabletask-python's in-memory backend, in one
                        process with its clients.

`--tracing` runs each durable_host runtime twice, the second time traced: the app exports every
saga's spans over OTLP/HTTP (batched, as durable_saga.tracing configures it) to a receiver on
loopback (bench.otlp_receiver, a process of its own whose CPU is counted apart), and the ratio of
traced to untraced is printed. Without it, tracing is off in every run, whatever OTEL_* or
APPLICATIONINSIGHTS_* variables the shell holds.

Prints a Markdown table, the ratios of ours to each peer and, for runs of 2000 sagas or more, the
throughput of the first thousand against the last; `--write FILE` also records them with the
machine they ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp

from bench.dbos_peer import NAME as DBOS_NAME
from bench.dbos_peer import run_dbos
from bench.host import LEDGER_SOURCE, can_tag
from bench.load import NotStarted, run_load
from bench.memory_run import NAME as MEMORY_NAME
from bench.memory_run import run_memory
from bench.peer import NAME as PEER_NAME
from bench.peer import run_peer
from bench.stats import RunResult, process_cpu_seconds, ratios, table
from durable_host.azurite import Azurite, free_port
from durable_host.config import read_host_settings, resolve_hub_name
from saga.settings import load_settings
from saga.storage import open_ledgers

ROOT = Path(__file__).resolve().parent.parent
# Spread over many rows, as real traffic is: one hot SKU or wallet would measure ETag contention on
# a single entity, not the orchestration runtime.
SPREAD = 64
# The app's ledger tables are named with this prefix (SAGA_TABLE_PREFIX).
LEDGER_PREFIX = "Bench"
OURS = "durable_host + Azurite"
HOT = "durable_host + Azurite, one hot SKU"
TRACED = ", traced over OTLP"
# Variables that would turn tracing on in the app (durable_saga.tracing); a run sets its own.
TRACING_VARIABLES = ("OTEL_", "APPLICATIONINSIGHTS_")


def _sku(index: int) -> str:
    return f"SKU-BENCH-{index % SPREAD}"


def _customer(index: int) -> str:
    """Even sagas are paid by a rich customer, odd ones by a broke one (and compensate)."""
    kind = "broke" if index % 2 else "rich"
    return f"bench-{kind}-{(index // 2) % SPREAD}"


def _app_environment(connection_string: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(TRACING_VARIABLES)}
    environ.update(
        AzureWebJobsStorage=connection_string,
        SAGA_DEMO_DATA="true",
        SAGA_TABLE_PREFIX=LEDGER_PREFIX,
        PYTHONUNBUFFERED="1",
    )
    for name in ("SAGA_FAULT_TRANSIENT", "SAGA_FAULT_STALL"):
        environ.pop(name, None)
    return environ


def _seed(environ: dict[str, str], sagas: int) -> None:
    ledgers = open_ledgers(load_settings(environ))
    for index in range(2 * SPREAD):
        balance = Decimal("0.00") if index % 2 else Decimal(10) ** 9
        ledgers.wallets.open_wallet(_customer(index), balance)
    for index in range(SPREAD):
        ledgers.inventory.stock_item(_sku(index), Decimal("1.00"), sagas)


async def _wait_until_serving(base_url: str, process: subprocess.Popen[bytes]) -> None:
    await _wait_for(f"{base_url}/api/inventory/{_sku(0)}", process, "the host")


async def _wait_for(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    """Until `url` answers 200; fails when the process exits or a minute has passed."""
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with code {process.returncode} while starting")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{what} did not serve within 60 s")


async def _start_order(base_url: str, hot: bool, http: aiohttp.ClientSession, index: int) -> str:
    """POST /api/orders, as a client of the app starts a saga; the instance is the order id.
    `hot`: every order on the same SKU (a flash sale)."""
    body = {
        "orderId": f"bench-{index}",
        "customerId": _customer(index),
        "items": [{"sku": _sku(0 if hot else index), "quantity": 1}],
    }
    async with http.post(f"{base_url}/api/orders", json=body) as response:
        if response.status != 202:
            raise NotStarted(f"start answered {response.status}")
        order_id: str = (await response.json())["orderId"]
        return order_id


# An access log line: `127.0.0.1 - - [date] "POST /devstoreaccount1/SagaHubHistory HTTP/1.1" 204 -`.
_ACCESS = re.compile(r'^(?P<source>\S+) .*?"[A-Z]+ /[^/\s]+/(?P<resource>[^\s(?]*)')


def storage_requests(log_file: Path, hub: str, tagged: bool) -> Counter[str]:
    """Requests in Azurite's access log so far, as the app's ledgers' or the task hub's.

    A request is the ledgers' when the table it names starts with LEDGER_PREFIX, the task hub's
    when it starts with the hub's name. A batch (`$batch`) names no table: when the app's
    connections were `tagged` (see bench.host), it is the ledgers' if it came from LEDGER_SOURCE
    and the task hub's otherwise; untagged, it counts as other.
    """
    counts: Counter[str] = Counter()
    with open(log_file, encoding="utf-8", errors="replace") as log:
        for line in log:
            match = _ACCESS.match(line)
            if match is None or ' HTTP/1.1" ' not in line:
                continue
            table = match["resource"].lower()
            if table.startswith(hub.lower()):
                counts["task hub"] += 1
            elif table.startswith(LEDGER_PREFIX.lower()):
                counts["ledgers"] += 1
            elif tagged and table in ("$batch", "tables"):
                counts["ledgers" if match["source"] == LEDGER_SOURCE else "task hub"] += 1
            else:
                counts["other"] += 1
    return counts


def _by_part(requests: Counter[str]) -> dict[str, int]:
    """The ledgers' and the task hub's requests, and any other only when there were some."""
    parts = {"ledgers": requests["ledgers"], "task hub": requests["task hub"]}
    if requests["other"]:
        parts["other"] = requests["other"]
    return parts


@contextmanager
def _otlp_receiver(scratch: Path, environ: dict[str, str]) -> Iterator[int]:
    """bench.otlp_receiver as a process of its own, the app's spans sent to it; its pid."""
    port = free_port()
    with open(scratch / "otlp.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.otlp_receiver", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        asyncio.run(_wait_for(f"{endpoint}/received", process, "the OTLP receiver"))
        environ.update(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_SERVICE_NAME="saga-bench")
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


async def _spans_received(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        received: int = (await response.json())["spans"]
        return received


def run_durable_host(
    sagas: int, concurrency: int, poll: float, hot: bool = False, traced: bool = False
) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="saga-bench-") as scratch, ExitStack() as stack:
        azurite = Azurite(Path(scratch) / "azurite", access_log=True)
        with azurite:
            environ = _app_environment(azurite.connection_string)
            receiver = None
            if traced:
                receiver = stack.enter_context(_otlp_receiver(Path(scratch), environ))
            hub = resolve_hub_name(None, read_host_settings(ROOT, environ), environ)
            tagged = can_tag()
            if not tagged:
                print(
                    f"{LEDGER_SOURCE} is not a local address here: storage batches count as other",
                    file=sys.stderr,
                )
            _seed(environ, sagas)
            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            command = [sys.executable, "-m", "bench.host", "--app-dir", str(ROOT)]
            with open(Path(scratch) / "host.log", "wb") as log:
                process = subprocess.Popen(
                    [*command, "--port", str(port)],
                    env=environ,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                try:
                    asyncio.run(_wait_until_serving(base_url, process))
                    before = storage_requests(azurite.log_file, hub, tagged)
                    processes = {"host": process.pid, "Azurite": azurite.pid}
                    if receiver is not None:
                        processes["OTLP receiver"] = receiver
                    cpu_before = _cpu_seconds(processes)
                    elapsed, results = asyncio.run(
                        run_load(
                            base_url,
                            sagas,
                            concurrency,
                            poll,
                            functools.partial(_start_order, base_url, hot),
                        )
                    )
                    cpu = {
                        name: seconds - cpu_before[name]
                        for name, seconds in _cpu_seconds(processes).items()
                        if name in cpu_before
                    }
                    requests = storage_requests(azurite.log_file, hub, tagged) - before
                finally:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=60)
            spans = None
            if traced:
                # The host exports what it still holds as it stops.
                received = environ["OTEL_EXPORTER_OTLP_ENDPOINT"] + "/received"
                spans = asyncio.run(_spans_received(received))
    return RunResult(
        name=(HOT if hot else OURS) + (TRACED if traced else ""),
        sagas=sagas,
        seconds=elapsed,
        latencies=[latency for latency, _, _ in results],
        outcomes=[outcome for _, outcome, _ in results],
        ended=[ended for _, _, ended in results],
        storage_requests=_by_part(requests),
        cpu_seconds=cpu,
        spans=spans,
    )


def _cpu_seconds(processes: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds so far of each named process, and of this one as "load generator"."""
    seconds = {"load generator": time.process_time()}
    for name, pid in processes.items():
        used = process_cpu_seconds(pid) if pid is not None else None
        if used is not None:
            seconds[name] = used
    return seconds


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def report(results: list[RunResult], sagas: int, concurrency: int, poll: float) -> str:
    text = (
        f"{sagas} sagas (half compensate), {concurrency} in flight, status polled every "
        f"{poll * 1000:.0f} ms.\n\n" + table(results)
    )
    by_name = {result.name: result for result in results}
    pairs = [
        (by_name[mine], by_name[peer])
        for mine, peer in COMPARED
        if mine in by_name and peer in by_name
    ]
    if pairs:
        text += "\n" + ratios(pairs)
    for result in results:
        drift = result.drift()
        if drift is not None:
            first, last = drift
            text += (
                f"\n{result.name}: {first:.1f} sagas/s over the first thousand to end, "
                f"{last:.1f} over the last thousand ({(last / first - 1) * 100:+.0f}%).\n"
            )
    for result in results:
        if result.spans is not None:
            text += (
                f"\n{result.name}: {result.spans / result.sagas:.1f} spans per saga reached the "
                "OTLP receiver.\n"
            )
    ours = by_name.get(OURS)
    if ours is not None and ours.cpu_seconds:
        # Whatever the scheduling, the machine cannot run more sagas per second than this.
        cores = os.cpu_count() or 1
        ceiling = cores * 1000 / ours.cpu_ms_per_saga
        text += (
            f"\nAt {ours.cpu_ms_per_saga:.0f} CPU ms per saga, {cores} cores run at most "
            f"{ceiling:.0f} sagas/s on {OURS}.\n"
        )
    return text


START, END = "<!-- latest bench: start -->", "<!-- latest bench: end -->"


def record_latest(path: Path, latest: str) -> None:
    """Replace the figures between the markers, keeping the notes around them."""
    block = f"{START}\n{latest}{END}"
    if path.exists() and START in (current := path.read_text()) and END in current:
        before, rest = current.split(START, 1)
        path.write_text(before + block + rest.split(END, 1)[1])
    else:
        path.write_text(f"# Benchmarks\n\n{block}\n")


# Each runtime's run, in the order of the table: ours first, then the peers.
RUNTIMES: dict[str, Callable[[int, int, float], RunResult]] = {
    "durable_host": run_durable_host,
    "durable_host-hot-sku": functools.partial(run_durable_host, hot=True),
    "durable_host-memory": run_memory,
    "dbos": run_dbos,
    "durabletask": run_peer,
}
# Which run is held against which: ours with storage against the persistent peer and the in-memory
# one, and ours in memory against the in-memory one (same ledgers, no storage on either side).
COMPARED = [
    (HOT, OURS),
    (OURS, DBOS_NAME),
    (OURS, PEER_NAME),
    (MEMORY_NAME, PEER_NAME),
    (OURS + TRACED, OURS),
    (HOT + TRACED, HOT),
]
# What `--tracing` runs again, traced, right after each.
TRACED_RUNTIMES: dict[str, Callable[[int, int, float], RunResult]] = {
    "durable_host": functools.partial(run_durable_host, traced=True),
    "durable_host-hot-sku": functools.partial(run_durable_host, hot=True, traced=True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.saga_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sagas", type=int, default=1000, help="sagas per runtime (1000)")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="sagas in flight at once, per runtime (32)"
    )
    parser.add_argument("--poll-ms", type=int, default=50, help="status poll interval (50)")
    parser.add_argument(
        "--runtimes",
        nargs="+",
        choices=RUNTIMES,
        default=list(RUNTIMES),
        metavar="RUNTIME",
        help=f"which runtimes to run, of {', '.join(RUNTIMES)} (all)",
    )
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="also run each durable_host runtime with its spans exported over OTLP/HTTP",
    )
    parser.add_argument(
        "--write", type=Path, help="also write the table into this Markdown file (all runtimes)"
    )
    args = parser.parse_args(argv)
    if args.sagas < 2 or args.concurrency < 1 or args.poll_ms < 1:
        parser.error("--sagas must be at least 2, --concurrency and --poll-ms at least 1")
    if args.write and set(args.runtimes) != set(RUNTIMES):
        parser.error("--write records a run of every runtime; leave out --runtimes")
    poll = args.poll_ms / 1000
    results = []
    for name, run in RUNTIMES.items():
        if name in args.runtimes:
            results.append(run(args.sagas, args.concurrency, poll))
            if args.tracing and name in TRACED_RUNTIMES:
                results.append(TRACED_RUNTIMES[name](args.sagas, args.concurrency, poll))
    text = report(results, args.sagas, args.concurrency, poll)
    print(text)
    if args.write:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        latest = f"Latest run: {stamp}, `make bench`, on {machine()}.\n\n" + text
        record_latest(args.write, latest)
        print(f"written to {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
