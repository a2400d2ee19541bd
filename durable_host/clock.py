"""Where the engine's time comes from: the system clock, or a virtual one for tests and demos.

The engine asks its clock for `now()` (history timestamps, `current_utc_datetime`, status times)
and for `call_at` (durable timers, retry timers, its own retry back-off). With `SystemClock` that is
the wall clock and the event loop's timers. With `VirtualClock` time is the wall clock's pace plus
the waits it skipped: once nothing runs it jumps to the next due timer, so a six-hour timer fires in
milliseconds, and while anything runs timers still fire at the wall clock's pace, so a timer and
the activity it races end as on a real host. What counts as running is told by a `WorkTracker`
that the engine and the function app report to.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

# Loop turns the virtual clock lets pass after the tracker reports idle before it moves time:
# enough for callbacks already queued (a finished activity's future, a request being answered)
# to start the work they lead to.
SETTLE_TURNS = 8

# How long work may run with nothing starting or ending before the virtual reading follows the
# wall clock: far above what an episode or a fake activity costs (milliseconds), so that quick
# work takes no virtual time and tests can assert exact instants, while a service that really
# takes seconds shows its duration.
CATCH_UP_AFTER = timedelta(seconds=2)


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
    Listeners hear of every change, on the loop, in order.
    """

    def __init__(self) -> None:
        self._count = 0
        self._parked = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[bool], None]] = []
        self.idle = asyncio.Event()
        self.idle.set()

    def listen(self, listener: Callable[[bool], None]) -> None:
        """Call `listener(working)` now and at every start, end, park or resume of work, with
        whether any work runs (not parked)."""
        self._listeners.append(listener)
        listener(self._count > self._parked)

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
        working = self._count > self._parked
        if working:
            self.idle.clear()
        else:
            self.idle.set()
        for listener in self._listeners:
            listener(working)


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


@dataclass(eq=False)
class _Timer:
    """A callback on the virtual clock, due at `when` on virtual time or at `real_at` on the
    clock's pace (seconds), whichever the clock reaches first."""

    when: datetime
    real_at: float
    order: int
    callback: Callable[[], None]
    done: bool = False  # fired or cancelled

    def cancel(self) -> None:
        self.done = True


class VirtualClock:
    """Virtual time: the wall clock's pace, plus the waits it skipped because nothing ran.

    The reading moves in steps, so that quick work takes no virtual time and a test can assert
    exact instants (three attempts that started 0, 1 and 2 s apart):

    - when nothing runs (work parked in `sleep` counts as waiting), it jumps to the next due timer
      and fires it (after a few loop turns, for work already queued to start);
    - each timer also gets a point in real time when it is created, `due - now()` of wall time
      later (a jump brings every such point as much closer); reached while work runs, the timer
      fires there and the reading moves to its due time (never backwards). So a 0.5 s timer
      fires after 0.5 s of wall time whatever else runs, and a deadline racing an activity wins
      or loses by that activity's real duration;
    - while work runs and nothing starts or ends for `catch_up_after` (2 s by default), the
      reading follows the wall clock from the last change, so a slow activity's real duration
      shows in the history; quicker work takes no virtual time.

    Starts at `start` (default: the wall clock's now, so timestamps look ordinary). `paused()`
    holds time entirely still (no jump, no timer firing, no catching up: the wall time spent
    inside the block does not count), and with `auto_advance=False` only `advance(delta)` moves
    it, firing what falls due on the way one instant at a time.
    """

    def __init__(
        self,
        tracker: WorkTracker,
        start: datetime | None = None,
        auto_advance: bool = True,
        catch_up_after: timedelta = CATCH_UP_AFTER,
    ) -> None:
        self.tracker = tracker
        self._catch_up_after = catch_up_after.total_seconds()
        self._auto = auto_advance
        self._holds = 0
        # What now() reads, from worker threads too.
        self._lock = threading.Lock()
        self._reading = utc(start) if start else datetime.now(UTC)
        # The clock's pace, in seconds: the wall time it was free to move (automatic, not
        # paused), plus the waits it skipped. Timers' real points are on it.
        self._free_seconds = 0.0
        self._free_since: float | None = time.monotonic() if auto_advance else None
        self._skipped = 0.0
        # On the free seconds: when the reading last moved, and when work last started or ended.
        self._reading_moved_at = 0.0
        self._work_changed_at = 0.0
        self._working = False
        self._by_due: list[tuple[datetime, int, _Timer]] = []
        self._by_real: list[tuple[float, int, _Timer]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._moving = asyncio.Lock()
        tracker.listen(self._work_changed)

    def now(self) -> datetime:
        with self._lock:
            return self._read(self._free_time())

    @property
    def auto_advance(self) -> bool:
        return self._auto

    @auto_advance.setter
    def auto_advance(self, value: bool) -> None:
        self._auto = value
        self._free_changed()

    def call_at(self, when: datetime, callback: Callable[[], None]) -> TimerHandle:
        with self._lock:
            free = self._free_time()
            reading = self._read(free)
            due = max(utc(when), reading)
            real_at = free + self._skipped + (due - reading).total_seconds()
        timer = _Timer(due, real_at, next(self._order), callback)
        heapq.heappush(self._by_due, (timer.when, timer.order, timer))
        heapq.heappush(self._by_real, (timer.real_at, timer.order, timer))
        self._wake.set()
        return timer

    def next_due(self) -> datetime | None:
        """When the next live timer is due, or None."""
        timer = _first(self._by_due)
        return None if timer is None else timer.when

    async def start(self) -> None:
        self.tracker.bind(asyncio.get_running_loop())
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="virtual-clock")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            # Wait for it without taking its cancellation for our own (nor hiding ours).
            await asyncio.wait([runner])
        self._by_due.clear()
        self._by_real.clear()

    def describe(self) -> str:
        mode = (
            "jumps to the next timer when idle, keeps the wall clock's pace while work runs"
            if self._auto
            else "moves only when advanced"
        )
        return f"virtual clock at {self.now().isoformat()} ({mode})"

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Hold time still inside the block: no jump, no timer firing at its real point, and the
        wall time spent inside does not count towards any timer."""
        self._holds += 1
        self._free_changed()
        try:
            yield
        finally:
            self._holds -= 1
            self._free_changed()

    async def sleep(self, delta: timedelta) -> None:
        """Wait `delta` of virtual time, as a slow service would take it: the work calling this
        (an activity, say) counts as waiting, so the clock may jump while nothing else runs, and
        other timers due earlier fire first. While other work runs, it takes `delta` of wall
        time, like any timer."""
        woken = asyncio.Event()
        self.call_at(self.now() + delta, woken.set)
        with self.tracker.parked():
            await woken.wait()

    async def advance(self, delta: timedelta) -> None:
        """Move time forward by `delta`, firing due timers in order and letting the work each one
        starts finish before the next instant."""
        if delta < timedelta(0):
            raise ValueError(f"cannot move a clock backwards ({delta})")
        async with self._moving:
            target = self.now() + delta
            while True:
                await self.settled()
                due = self.next_due()
                if due is None or due > target:
                    break
                self._fire_through(due, skip=True)
            self._move_to(target, skip=True)

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
            self._wake.clear()
            first = _first(self._by_real)
            if first is None or not self._free():
                await self._wake.wait()
                continue
            wait = first.real_at - self._pace()
            if wait <= 0:
                # Its wall-clock time has come, whatever runs.
                self._fire_through(first.when, skip=False)
            elif self.tracker.idle.is_set():
                await self._skip()
            else:
                # Not asyncio.wait_for: on Python 3.11 it drops a cancellation that comes as the
                # wait ends, and stop() would wait for this loop forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def _skip(self) -> None:
        """Nothing runs: jump to the next due timer, once work already queued has had a few loop
        turns to start."""
        async with self._moving:
            for _ in range(SETTLE_TURNS):
                await asyncio.sleep(0)
            due = self.next_due()
            if due is not None and self.tracker.idle.is_set() and self._free():
                self._fire_through(due, skip=True)

    def _fire_through(self, moment: datetime, skip: bool) -> None:
        """Move the reading to `moment`, then fire every timer due by then, in due order."""
        self._move_to(moment, skip)
        reached = self.now()
        while (timer := _first(self._by_due)) is not None and timer.when <= reached:
            heapq.heappop(self._by_due)
            timer.done = True
            timer.callback()

    def _move_to(self, moment: datetime, skip: bool) -> None:
        """Move the reading to `moment` (never backwards); with `skip`, the clock's pace jumps
        with it, so every timer's real point comes that much sooner."""
        with self._lock:
            free = self._free_time()
            reading = self._read(free)
            if moment > reading:
                if skip:
                    self._skipped += (moment - reading).total_seconds()
                reading = moment
            self._reading, self._reading_moved_at = reading, free

    def _work_changed(self, working: bool) -> None:
        """The tracker's report, at every start, end, park or resume of work: the reading keeps
        what it caught up, and unseen time counts afresh."""
        with self._lock:
            free = self._free_time()
            reading = self._read(free)
            if reading != self._reading:
                self._reading, self._reading_moved_at = reading, free
            self._work_changed_at, self._working = free, working
        if not working:
            self._wake.set()

    def _read(self, free: float) -> datetime:
        """The reading at `free` seconds: the last one, unless work has run unseen (nothing
        started or ended, the reading did not move) for `catch_up_after`; then it follows the
        wall clock. Under the lock."""
        unseen = free - max(self._reading_moved_at, self._work_changed_at)
        if self._working and unseen >= self._catch_up_after:
            return self._reading + timedelta(seconds=unseen)
        return self._reading

    def _free(self) -> bool:
        return self._auto and not self._holds

    def _free_changed(self) -> None:
        """Count wall time only while the clock is free to move (automatic and not paused)."""
        with self._lock:
            if self._free() and self._free_since is None:
                self._free_since = time.monotonic()
            elif not self._free() and self._free_since is not None:
                self._free_seconds += time.monotonic() - self._free_since
                self._free_since = None
        self._wake.set()

    def _free_time(self) -> float:
        """The wall time the clock was free to move, in seconds. Under the lock."""
        since = self._free_since
        return self._free_seconds + (0.0 if since is None else time.monotonic() - since)

    def _pace(self) -> float:
        with self._lock:
            return self._free_time() + self._skipped


_Entry = TypeVar("_Entry", tuple[datetime, int, _Timer], tuple[float, int, _Timer])


def _first(heap: list[_Entry]) -> _Timer | None:
    """The heap's first live timer (fired and cancelled ones are dropped on the way), or None."""
    while heap and heap[0][2].done:
        heapq.heappop(heap)
    return heap[0][2] if heap else None
