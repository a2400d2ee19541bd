"""What one benchmark run measured, and the table it prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass
class RunResult:
    name: str
    sagas: int
    seconds: float
    latencies: list[float]
    outcomes: list[str]
    storage_requests: int | None

    @property
    def rate(self) -> float:
        return self.sagas / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    @property
    def requests_per_saga(self) -> str:
        if self.storage_requests is None:
            return "n/a (memory)"
        return f"{self.storage_requests / self.sagas:.1f}"

    def outcome_summary(self) -> str:
        counts = Counter(self.outcomes)
        return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def table(results: list[RunResult]) -> str:
    """A Markdown table, so the same text goes to the terminal and to docs/benchmarks.md."""
    header = (
        "| runtime | sagas | sagas/s | p50 ms | p95 ms | p99 ms "
        "| storage requests/saga | outcomes |\n"
        "|---|---:|---:|---:|---:|---:|---:|---|\n"
    )
    rows = [
        f"| {r.name} | {r.sagas} | {r.rate:.1f} | {r.percentile(50) * 1000:.0f} | "
        f"{r.percentile(95) * 1000:.0f} | {r.percentile(99) * 1000:.0f} | "
        f"{r.requests_per_saga} | {r.outcome_summary()} |"
        for r in results
    ]
    return header + "\n".join(rows) + "\n"
