"""One ScaledObject's latest decision as the gRPC handlers read it, and who waits on it.

The registry's `Tracked` is one (it also owns the engine); so is the gRPC front process's
mirror of it (`mirror_board.py`). The handlers only ever see this much.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from autoscaler.decision import Decision
from autoscaler.scaler.metadata import ScalerTarget


@dataclass(eq=False)
class DecisionCell:
    target: ScalerTarget
    decision: Decision | None = None
    last_error: str = ""  # the source's last failure, "" when its last read worked
    # Dropped from its board: it gets no more decisions (a re-tracked target is a new cell).
    closed: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def active(self) -> bool:
        """Replicas wanted now, or within the cold-start horizon (forecast-driven wake-up)."""
        d = self.decision
        return d is not None and (d.replicas > 0 or d.forecast_replicas > 0)

    def publish(self, decision: Decision) -> None:
        """Sets the decision and wakes everyone in `wait_change`."""
        self.decision = decision
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def close(self) -> None:
        """Marks the cell dropped and wakes everyone in `wait_change`, so nobody waits on a
        cell that will never change again. Waiters must check `closed`: from now on
        `wait_change` returns at once."""
        self.closed = True
        self._changed.set()

    async def wait_change(self) -> None:
        """Returns on the next publish, or at once when the cell is closed."""
        await self._changed.wait()
