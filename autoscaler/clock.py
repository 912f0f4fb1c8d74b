"""Time is injected: production wires a SystemClock, simulations and tests a ManualClock.

A clock both reads the time and waits for it. Background loops (the registry's refreshes, the
refits, the peer exchange, the file watchers, the placement loop) sleep on their clock, never on
asyncio directly, so a test drives them by moving a ManualClock: `advance(s)` wakes every sleep
that falls due, and `await clock.sleeping(n)` waits until n loops are parked again.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now_s(self) -> float:
        """Seconds on this clock's time line (epoch s in production, trace s in sims)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Returns once `seconds` have passed on this clock's time line."""
        ...


class SystemClock:
    """Wall clock. Only the CLI's wiring creates one."""

    def now_s(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


# How often `ManualClock.tick` yields to the event loop after moving: enough for woken loops
# that only await other coroutines to run on to their next sleep.
_SETTLE_YIELDS = 20


class ManualClock:
    """A clock that moves only when told to: for simulations and timeline tests.

    `sleep(s)` parks the caller until the clock is moved to or past now + s; nothing waits in
    real time. Like a timer wheel, one `advance` wakes each due sleep once: a loop sleeping
    5 s is woken once by `advance(60)`, and its next sleep counts from the new now.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)
        self._order = itertools.count()  # equal deadlines wake in the order they slept
        self._sleeps: dict[int, tuple[float, asyncio.Future[None]]] = {}

    def now_s(self) -> float:
        return self._now_s

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds} s)")
        self._now_s += seconds
        self._wake_due()
        return self._now_s

    def set(self, now_s: float) -> None:
        if now_s < self._now_s:
            raise ValueError(f"a clock cannot go backwards ({now_s} < {self._now_s})")
        self._now_s = float(now_s)
        self._wake_due()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # still a point where other tasks run, as asyncio's is
            return
        key = next(self._order)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleeps[key] = (self._now_s + seconds, future)
        try:
            await future
        finally:
            self._sleeps.pop(key, None)  # woken, or cancelled while asleep

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting for the clock to move."""
        return sum(not f.done() for _, f in self._sleeps.values())

    def next_wake_s(self) -> float | None:
        """When the earliest pending sleep falls due (None: nothing sleeps)."""
        due = [at_s for at_s, f in self._sleeps.values() if not f.done()]
        return min(due) if due else None

    async def tick(self, seconds: float = 0.0) -> float:
        """Advances, then lets the loops it woke run on to their next await."""
        now_s = self.advance(seconds)
        for _ in range(_SETTLE_YIELDS):
            await asyncio.sleep(0)
        return now_s

    async def sleeping(self, count: int = 1, *, within_s: float = 5.0) -> None:
        """Waits until at least `count` sleeps are parked on this clock.

        A loop that hands work to a thread (a refresh, a file load) parks only after the
        thread returns, so this may wait in real time; `within_s` only bounds a test that
        would otherwise hang, it decides nothing.
        """
        deadline = time.monotonic() + within_s
        yields = 0
        while self.sleepers < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.sleepers} sleep(s) parked on the clock after {within_s} s, not {count}"
                )
            yields += 1
            # Yield first (loops of coroutines park within a few); then poll gently for
            # loops waiting on a worker thread.
            await asyncio.sleep(0 if yields < 100 else 0.001)

    def _wake_due(self) -> None:
        if not self._sleeps:  # a simulation moves the clock millions of times, with no sleeper
            return
        for _, (at_s, future) in sorted(self._sleeps.items(), key=lambda kv: (kv[1][0], kv[0])):
            if at_s <= self._now_s and not future.done():
                future.set_result(None)


async def sleep_or_wake(clock: Clock, seconds: float, wake: asyncio.Event) -> bool:
    """Sleeps on `clock` until `seconds` pass or `wake` is set; True when `wake` ended it."""
    if wake.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waker = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, waker):
            task.cancel()
        await asyncio.gather(sleeper, waker, return_exceptions=True)
    return wake.is_set()
