"""Freezes the heap again once the set of tracked ScaledObjects has settled.

Each ScaledObject brings a few dozen long-lived objects (engine, forecasters, planner state,
gauges), created after start-up, so `tune_for_latency`'s start-up freeze cannot cover them.
With a thousand of them every full collection walks ~80,000 objects: a 60-100 ms pause on
the loop that answers KEDA, measured with benchmarks/scaler_load.py --probe. Once the count
has stayed the same for `quiet_s` (start-up and its back-fills are over), one full
collection clears the garbage and `gc.freeze()` moves the survivors out of the collector's
sight, so later collections walk only what changed since. A freeze follows each settling
after a change, so a fleet that grows is covered too; between changes nothing happens.
Frozen objects are still freed by reference counting; only a cycle among them that later
becomes garbage would stay, and engines of dropped ScaledObjects hold none.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("prewarm.serve")


@dataclass
class SettlingWatch:
    """Says when the tracked count has been unchanged for `quiet_s` since it last changed."""

    quiet_s: float = 120.0
    _count: int | None = field(default=None, init=False)
    _since_s: float = field(default=0.0, init=False)
    _frozen_count: int | None = field(default=None, init=False)

    def settled(self, now_s: float, count: int) -> bool:
        """True once per settling: the count is steady for `quiet_s` and not yet frozen at."""
        if count != self._count:
            self._count, self._since_s = count, now_s
            return False
        if count == self._frozen_count or now_s - self._since_s < self.quiet_s:
            return False
        self._frozen_count = count
        return True


def freeze_heap() -> None:
    gc.collect()
    gc.freeze()


async def freeze_when_settled(
    tracked_count: Callable[[], int],
    watch: SettlingWatch | None = None,
    *,
    check_every_s: float = 10.0,
    now_s: Callable[[], float] = time.monotonic,
    freeze: Callable[[], None] = freeze_heap,
) -> None:
    """Runs until cancelled."""
    watch = watch or SettlingWatch()
    while True:
        count = tracked_count()
        if watch.settled(now_s(), count):
            started = time.perf_counter()
            freeze()
            log.info(
                "heap frozen",
                extra={
                    "scaled_objects": count,
                    "frozen_objects": gc.get_freeze_count(),
                    "pause_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        await asyncio.sleep(check_every_s)
