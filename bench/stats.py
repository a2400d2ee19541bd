"""What one benchmark run measured, and the table it prints."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process (all its threads), or None off Linux."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return None
    # The fields after the command name, which may itself hold spaces and parentheses.
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The one CPU figure of a run whose runtime and clients share this process.
ONE_PROCESS = "runtime and load generator, one process"


@dataclass
class RunResult:
    name: str
    sagas: int
    seconds: float
    latencies: list[float]
    outcomes: list[str]
    # Requests to storage during the run, by part ("ledgers", "task hub", ...); None when the
    # runtime keeps its state in memory.
    storage_requests: dict[str, int] | None
    # What one request is, when it is not a storage service's request ("SQLite statements").
    storage_unit: str = ""
    # CPU seconds spent during the run, by process ("host", "Azurite", "load generator", ...).
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    # When each saga ended, in seconds from the start of the load (where the run records it).
    ended: list[float] = field(default_factory=list)
    # Spans that reached the OTLP receiver, for a traced run.
    spans: int | None = None

    @property
    def rate(self) -> float:
        return self.sagas / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    def storage_summary(self) -> str:
        """Storage requests per saga, by part where there are several."""
        if self.storage_requests is None:
            return "n/a (memory)"
        total = sum(self.storage_requests.values()) / self.sagas
        text = f"{total:.1f} {self.storage_unit}".rstrip()
        if len(self.storage_requests) > 1:
            parts = " + ".join(
                f"{part} {count / self.sagas:.1f}" for part, count in self.storage_requests.items()
            )
            text += f" ({parts})"
        return text

    @property
    def cpu_ms_per_saga(self) -> float:
        return sum(self.cpu_seconds.values()) / self.sagas * 1000

    def cpu_summary(self) -> str:
        """CPU ms per saga, by process: what a saga costs the machine, whatever the cores."""
        if not self.cpu_seconds:
            return "n/a"
        parts = " + ".join(
            f"{name} {used / self.sagas * 1000:.0f}" for name, used in self.cpu_seconds.items()
        )
        return f"{self.cpu_ms_per_saga:.0f} ({parts})" if len(self.cpu_seconds) > 1 else parts

    def drift(self, window: int = 1000) -> tuple[float, float] | None:
        """Sagas/s over the first `window` sagas to end and over the last `window`, or None
        when the run is too short to have both apart."""
        ended = sorted(self.ended)
        if len(ended) < 2 * window:
            return None
        first = window / ended[window - 1]
        last = window / (ended[-1] - ended[-window - 1])
        return first, last

    def outcome_summary(self) -> str:
        counts = Counter(self.outcomes)
        return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def table(results: list[RunResult]) -> str:
    """A Markdown table, so the same text goes to the terminal and to docs/benchmarks.md."""
    header = (
        "| runtime | sagas | sagas/s | p50 ms | p95 ms | p99 ms "
        "| storage requests/saga | CPU ms/saga | outcomes |\n"
        "|---|---:|---:|---:|---:|---:|---|---|---|\n"
    )
    rows = [
        f"| {r.name} | {r.sagas} | {r.rate:.1f} | {r.percentile(50) * 1000:.0f} | "
        f"{r.percentile(95) * 1000:.0f} | {r.percentile(99) * 1000:.0f} | "
        f"{r.storage_summary()} | {r.cpu_summary()} | {r.outcome_summary()} |"
        for r in results
    ]
    return header + "\n".join(rows) + "\n"


def ratios(pairs: list[tuple[RunResult, RunResult]]) -> str:
    """Ours against a peer, pair by pair: above 1, ours runs more sagas/s, or spends more CPU per
    saga."""
    header = "| ratio | sagas/s | CPU ms/saga |\n|---|---:|---:|\n"
    rows = [
        f"| {ours.name} / {peer.name} | {_ratio(ours.rate, peer.rate)} | "
        f"{_ratio(ours.cpu_ms_per_saga, peer.cpu_ms_per_saga)} |"
        for ours, peer in pairs
    ]
    return header + "\n".join(rows) + "\n"


def _ratio(ours: float, peer: float) -> str:
    return f"{ours / peer:.2f}" if peer else "n/a"
