"""Fault injection for end-to-end tests and benchmarks: off unless a setting names an activity.

`SAGA_FAULT_TRANSIENT="OrderActivity=0.2"` makes OrderActivity raise a transient error on 20% of its
runs. Half of those faults strike after the step's transaction committed, so the retry meets its own
effect and must not apply it twice; the other half strike before anything happened.
`SAGA_FAULT_STALL="PaymentActivity=5"` makes PaymentActivity wait 5 seconds before working, to drive
the saga's step deadline.
"""

from __future__ import annotations

import math
import random
import time
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


@dataclass(frozen=True)
class FaultPlan:
    """Which activities fail or stall, and how often; the default plan injects nothing."""

    transient: Mapping[str, float] = field(default_factory=_empty)
    stall_seconds: Mapping[str, float] = field(default_factory=_empty)
    chance: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def around(self, activity: str, step: Callable[[], T]) -> T:
        """Run `step` as `activity` would, with this plan's stall and transient faults applied."""
        stall = self.stall_seconds.get(activity, 0.0)
        if stall:
            time.sleep(stall)  # a deliberate stall, standing in for a slow dependency
        probability = self.transient.get(activity, 0.0)
        if probability and self.chance.random() < probability:
            if self.chance.random() < 0.5:
                raise InjectedFault(f"injected transient fault in {activity} before the step ran")
            step()
            raise InjectedFault(f"injected transient fault in {activity} after the step committed")
        return step()
