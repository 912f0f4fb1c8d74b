"""Freezes the heap again once the tracked ScaledObjects and their fits have settled.

Each ScaledObject brings a few dozen long-lived objects (engine, forecasters, planner state,
gauges), created after start-up, so `tune_for_latency`'s start-up freeze cannot cover them.
With a thousand of them every full collection walks ~80,000 objects: a 60-100 ms pause on
the loop that answers KEDA, measured with benchmarks/scaler_load.py --probe. The state
watched is (ScaledObjects tracked, parameter sets installed by the refit pool): once it has
stayed the same for `quiet_s` (start-up, its back-fills and first fits are over), one full
collection clears the garbage and `gc.freeze()` moves the survivors out of the collector's
sight, so later collections walk only what changed since. A freeze follows each settling
after a change (a fleet that grows, the daily refits); between changes nothing happens.
Frozen objects are still freed by reference counting; only a cycle among them that later
becomes garbage would stay, and engines of dropped ScaledObjects hold none.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

log = logging.getLogger("prewarm.serve")


@dataclass
class SettlingWatch:
    """Says when a state has been unchanged for `quiet_s` since it last changed."""

    quiet_s: float = 120.0
    _state: Hashable = field(default=None, init=False)
    _since_s: float = field(default=0.0, init=False)
    _frozen_state: Hashable = field(default=None, init=False)

    def settled(self, now_s: float, state: Hashable) -> bool:
        """True once per settling: the state is steady for `quiet_s` and not yet frozen at."""
        if state != self._state:
            self._state, self._since_s = state, now_s
            return False
        if state == self._frozen_state or now_s - self._since_s < self.quiet_s:
            return False
        self._frozen_state = state
        return True


def freeze_heap() -> None:
    """Collects the garbage, then moves every survivor out of the collector's sight."""
    gc.collect()
    gc.freeze()


async def freeze_when_settled(
    state: Callable[[], Hashable],
    watch: SettlingWatch | None = None,
    *,
    check_every_s: float = 10.0,
    now_s: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    freeze: Callable[[], None] = freeze_heap,
) -> None:
    """Runs until cancelled. The scaler passes its clock's `now_s` and `sleep`; the gRPC
    front process, which has no clock, the defaults."""
    watch = watch or SettlingWatch()
    while True:
        current = state()
        if watch.settled(now_s(), current):
            started = time.perf_counter()
            try:
                freeze()
            except Exception:  # an optimisation: never worth stopping the scaler for
                log.exception("heap freeze failed")
            else:
                log.info(
                    "heap frozen",
                    extra={
                        "settled_state": repr(current),
                        "frozen_objects": gc.get_freeze_count(),
                        "pause_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
        await sleep(check_every_s)
