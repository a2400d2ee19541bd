"""Fault injection for end-to-end tests and benchmarks: off unless a setting names an activity.

`SAGA_FAULT_TRANSIENT="OrderActivity=0.2"` makes OrderActivity raise a transient error on 20% of its
runs. Half of those faults strike after the step's transaction committed, so the retry meets its own
effect and must not apply it twice; the other half strike before anything happened.
`SAGA_FAULT_STALL="PaymentActivity=5"` makes PaymentActivity wait 5 seconds before working, to drive
the saga's step deadline. `SAGA_FAULT_FIRST="RollbackPaymentActivity=4"` makes the first 4 calls of
RollbackPaymentActivity for each order fail before the step runs, and later calls work: a fault
that lasts, then clears (counted in the process, so a restart starts the count again).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

ACTIVITY_NAMES = (
    "OrderActivity",
    "PaymentActivity",
    "RollbackOrderActivity",
    "RollbackPaymentActivity",
)

T = TypeVar("T")


class InjectedFault(RuntimeError):
    """A transient failure raised on purpose; the orchestrator's retry policy should absorb it."""


def parse_fault_map(text: str, *, upper_bound: float | None) -> Mapping[str, float]:
    """Parse `Name=number,Name=number` into {activity: number}; ValueError says what is wrong.

    `upper_bound` caps the numbers (1 for probabilities); every number must be finite and >= 0.
    """
    parsed: dict[str, float] = {}
    for raw_entry in text.split(","):
        entry = raw_entry.strip()
        if not entry:
            continue
        name, sep, raw_number = (part.strip() for part in entry.partition("="))
        if not sep:
            raise ValueError(f"entry {entry!r} is not of the form ActivityName=number")
        if name not in ACTIVITY_NAMES:
            raise ValueError(
                f"unknown activity {name!r}; expected one of {', '.join(ACTIVITY_NAMES)}"
            )
        if name in parsed:
            raise ValueError(f"activity {name!r} appears more than once")
        try:
            number = float(raw_number)
        except ValueError:
            raise ValueError(f"{raw_number!r} for {name} is not a number") from None
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"{raw_number!r} for {name} must be a finite number >= 0")
        if upper_bound is not None and number > upper_bound:
            raise ValueError(f"{raw_number!r} for {name} must be at most {upper_bound:g}")
        parsed[name] = number
    return MappingProxyType(parsed)


def _empty() -> Mapping[str, float]:
    return MappingProxyType({})


def parse_first_failures(text: str) -> Mapping[str, float]:
    """Like parse_fault_map, for counts of calls: whole numbers only."""
    counts = parse_fault_map(text, upper_bound=None)
    for name, count in counts.items():
        if count != int(count):
            raise ValueError(f"{count:g} for {name} must be a whole number of calls")
    return counts


@dataclass(frozen=True)
class FaultPlan:
    """Which activities fail or stall, and how often; the default plan injects nothing."""

    transient: Mapping[str, float] = field(default_factory=_empty)
    stall_seconds: Mapping[str, float] = field(default_factory=_empty)
    first_failures: Mapping[str, float] = field(default_factory=_empty)
    chance: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    # How a stall waits: the real clock, unless a test records the waits instead.
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    _calls: Counter[tuple[str, str]] = field(
        default_factory=Counter, compare=False, repr=False, init=False
    )
    _lock: threading.Lock = field(
        default_factory=threading.Lock, compare=False, repr=False, init=False
    )

    def around(self, activity: str, step: Callable[[], T], key: str = "") -> T:
        """Run `step` as `activity` would for `key` (an order id), with this plan's stall and
        faults applied."""
        stall = self.stall_seconds.get(activity, 0.0)
        if stall:
            self.sleep(stall)  # a deliberate stall, standing in for a slow dependency
        failures = self.first_failures.get(activity, 0)
        if failures:
            with self._lock:
                self._calls[(activity, key)] += 1
                call = self._calls[(activity, key)]
            if call <= failures:
                raise InjectedFault(
                    f"injected fault in {activity} (call {call}; the first {failures:g} fail)"
                )
        probability = self.transient.get(activity, 0.0)
        if probability and self.chance.random() < probability:
            if self.chance.random() < 0.5:
                raise InjectedFault(f"injected transient fault in {activity} before the step ran")
            step()
            raise InjectedFault(f"injected transient fault in {activity} after the step committed")
        return step()
