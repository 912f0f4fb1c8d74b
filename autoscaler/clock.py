"""Time is injected: production wires a SystemClock, simulations and tests a ManualClock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_s(self) -> float:
        """Seconds on this clock's time line (epoch s in production, trace s in sims)."""
        ...


class SystemClock:
    """Wall clock. Only the CLI's wiring creates one."""

    def now_s(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to: for simulations and timeline tests."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)

    def now_s(self) -> float:
        return self._now_s

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds} s)")
        self._now_s += seconds
        return self._now_s

    def set(self, now_s: float) -> None:
        if now_s < self._now_s:
            raise ValueError(f"a clock cannot go backwards ({now_s} < {self._now_s})")
        self._now_s = float(now_s)
