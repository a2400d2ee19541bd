"""Where the engine's time comes from: the system clock, or a virtual one for tests and demos.

The engine asks its clock for `now()` (history timestamps, `current_utc_datetime`, status times)
and for `call_at` (durable timers, retry timers, its own retry back-off). With `SystemClock` that is
the wall clock and the event loop's timers. With `VirtualClock` time stands still while anything
runs and jumps to the next due timer once nothing does, so a six-hour timer fires in milliseconds
and a timer never overtakes a running activity. What counts as running is told by a `WorkTracker`
that the engine and the function app report to.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

# Loop turns the virtual clock lets pass after the tracker reports idle before it moves time:
# enough for callbacks already queued (a finished activity's future, a request being answered)
# to start the work they lead to.
SETTLE_TURNS = 8


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time as the engine sees it."""

    def now(self) -> datetime:
        """The current UTC time (aware)."""
        ...

    def call_at(self, when: datetime, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback` on the event loop once `now()` reaches `when` (at once if it has)."""
        ...

    async def start(self) -> None:
        """Begin keeping time (a virtual clock starts moving itself)."""
        ...

    async def stop(self) -> None:
        """Stop; timers not yet due are dropped."""
        ...

    def describe(self) -> str:
        """One line for the start banner."""
        ...


class WorkTracker:
    """Counts work in flight (episodes, activities, function invocations, client requests).

    Thread-safe: function bodies run on worker threads. `idle` is an asyncio.Event on the loop
    that is set whenever all the work in flight is parked: waiting for virtual time to pass (a
    test's stand-in for a slow service, see VirtualClock.sleep), which is the clock's to move.
    """

    def __init__(self) -> None:
        self._count = 0
        self._parked = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.idle = asyncio.Event()
        self.idle.set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def begin(self) -> None:
        with self._lock:
            self._count += 1
        self._signal()

    def end(self) -> None:
        with self._lock:
            if self._count == 0:
                raise RuntimeError("WorkTracker.end() without a matching begin()")
            self._count -= 1
        self._signal()

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        self.begin()
        try:
            yield
        finally:
            self.end()

    @contextlib.contextmanager
    def parked(self) -> Iterator[None]:
        """Inside the block, work in flight (already counted) waits for virtual time."""
        with self._lock:
            self._parked += 1
        self._signal()
        try:
            yield
        finally:
            with self._lock:
                self._parked -= 1
            self._signal()

    def _signal(self) -> None:
        loop = self._loop
        if loop is None or _on_loop(loop):
            self._sync()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._sync)

    def _sync(self) -> None:
        """Make `idle` agree with the count as it is now (a late call from a thread must not set
        it while new work has begun)."""
        if self._count <= self._parked:
            self.idle.set()
        else:
            self.idle.clear()


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class SystemClock:
    """The wall clock, with the event loop's timers."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def call_at(self, when: datetime, callback: Callable[[], None]) -> TimerHandle:
        delay = (utc(when) - self.now()).total_seconds()
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def describe(self) -> str:
        return "system clock"


@dataclass(order=True)
class _Timer:
    when: datetime
    order: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    # Ordered by due time for the heap, but each timer is its own entity (the engine keeps its
    # handles in a set).
    __hash__ = object.__hash__

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Time that moves only when nothing runs, or when a test moves it.

    Starts at `start` (default: the wall clock's now, so timestamps look ordinary). With
    `auto_advance` (the default) it jumps to the next due timer whenever the tracker has been idle
    for a few loop turns; `paused()` holds it still while a test sets something up, and
    `advance(delta)` moves it by hand, firing what falls due on the way one instant at a time.
    """

    def __init__(
        self,
        tracker: WorkTracker,
        start: datetime | None = None,
        auto_advance: bool = True,
    ) -> None:
        self.tracker = tracker
        self._now = utc(start) if start else datetime.now(UTC)
        self._timers: list[_Timer] = []
        self._order = itertools.count()
        self._auto = auto_advance
        self._holds = 0
        self._changed = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._moving = asyncio.Lock()

    def now(self) -> datetime:
        return self._now

    @property
    def auto_advance(self) -> bool:
        return self._auto

    @auto_advance.setter
    def auto_advance(self, value: bool) -> None:
        self._auto = value
        self._changed.set()

    def call_at(self, when: datetime, callback: Callable[[], None]) -> TimerHandle:
        timer = _Timer(max(utc(when), self._now), next(self._order), callback)
        heapq.heappush(self._timers, timer)
        self._changed.set()
        return timer

    def next_due(self) -> datetime | None:
        """When the next live timer is due, or None."""
        self._drop_cancelled()
        return self._timers[0].when if self._timers else None

    async def start(self) -> None:
        self.tracker.bind(asyncio.get_running_loop())
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="virtual-clock")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        self._timers.clear()

    def describe(self) -> str:
        mode = "jumps to the next timer when idle" if self._auto else "moves only when advanced"
        return f"virtual clock at {self._now.isoformat()} ({mode})"

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Hold time still (no automatic jumps) inside the block."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            self._changed.set()

    async def sleep(self, delta: timedelta) -> None:
        """Wait `delta` of virtual time, as a slow service would take it: the work calling this
        (an activity, say) counts as waiting, so the clock may move, and other timers due
        earlier fire first."""
        woken = asyncio.Event()
        self.call_at(self._now + delta, woken.set)
        with self.tracker.parked():
            await woken.wait()

    async def advance(self, delta: timedelta) -> None:
        """Move time forward by `delta`, firing due timers in order and letting the work each one
        starts finish before the next instant."""
        if delta < timedelta(0):
            raise ValueError(f"cannot move a clock backwards ({delta})")
        async with self._moving:
            target = self._now + delta
            while True:
                await self.settled()
                due = self.next_due()
                if due is None or due > target:
                    break
                self._fire_due(due)
            self._now = max(self._now, target)

    async def settled(self) -> None:
        """Wait until nothing has run for a few loop turns."""
        while True:
            await self.tracker.idle.wait()
            for _ in range(SETTLE_TURNS):
                await asyncio.sleep(0)
            if self.tracker.idle.is_set():
                return

    async def _run(self) -> None:
        while True:
            if not self._auto or self._holds or self.next_due() is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            async with self._moving:
                await self.settled()
                due = self.next_due()
                if due is not None and self._auto and not self._holds:
                    self._fire_due(due)

    def _fire_due(self, due: datetime) -> None:
        self._now = max(self._now, due)
        while self._timers and self._timers[0].when <= self._now:
            timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.callback()

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
