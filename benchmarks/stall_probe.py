"""Where a latency tail comes from: event-loop stalls and garbage-collector pauses.

The load benchmark runs one in each process it measures (and one alone, before the run, as
the machine's baseline): a task that sleeps 5 ms and records how late it woke, i.e. how long
the loop could not run callbacks, and gc callbacks timing each collection by generation.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, field
from typing import Any

TICK_S = 0.005


@dataclass
class StallProbe:
    loop_lag_s: list[float] = field(default_factory=list)
    gc_pauses_s: dict[int, list[float]] = field(default_factory=dict)  # generation -> pauses
    _gc_started_s: float = 0.0

    def reset(self) -> None:
        """Forgets the warm-up, keeping the probes running."""
        self.loop_lag_s.clear()
        self.gc_pauses_s.clear()

    def time_collections(self) -> None:
        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                self._gc_started_s = time.perf_counter()
            else:
                pause_s = time.perf_counter() - self._gc_started_s
                self.gc_pauses_s.setdefault(info["generation"], []).append(pause_s)

        gc.callbacks.append(on_gc)

    async def watch_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self.loop_lag_s.append(time.perf_counter() - before - TICK_S)

    def summary(self, who: str) -> str:
        lines = [f"{who}: event-loop lag {_percentiles(self.loop_lag_s)}"]
        for generation, pauses in sorted(self.gc_pauses_s.items()):
            lines.append(
                f"{who}: gc generation {generation}: {len(pauses):,} collections, "
                f"pause {_percentiles(pauses)}"
            )
        return "\n".join(lines)


async def idle_loop_lag(seconds: float) -> str:
    """The lag an event loop doing nothing sees here: what the machine itself adds (a
    virtual CPU descheduled by its host shows up as lag no code of ours can remove)."""
    probe, stop = StallProbe(), asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    await probe.watch_loop(stop)
    return f"idle event-loop lag {_percentiles(probe.loop_lag_s)}"


def _percentiles(samples: list[float]) -> str:
    if not samples:
        return "(no samples)"
    ordered = sorted(samples)

    def ms(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))] * 1000

    return f"p50 {ms(0.5):.2f} ms, p99 {ms(0.99):.2f} ms, max {ordered[-1] * 1000:.1f} ms"


def cpu_steal_fraction(before: list[int], after: list[int]) -> float:
    """Share of CPU time the host took from this machine between two `cpu_times()`."""
    if len(after) < 8 or len(before) < 8:
        return 0.0
    # Fields 8 and 9 (guest, guest_nice) are already counted in user and nice.
    total = sum(after[:8]) - sum(before[:8])
    return (after[7] - before[7]) / total if total > 0 else 0.0


def cpu_times() -> list[int]:
    """The `cpu` line of /proc/stat (Linux); empty elsewhere."""
    try:
        with open("/proc/stat") as stat:
            return [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return []
