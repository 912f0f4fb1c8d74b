"""The replica set: who was asked for when, who is ready, what it costs.

Scale-down cancels replicas still starting before it stops serving ones (newest first),
because a start in progress serves nobody yet and is the cheapest thing to give back.
"""

from __future__ import annotations

import bisect

import numpy as np


class ReplicaSet:
    def __init__(
        self, *, initial_ready: int, cold_start_s: float, jitter: float, rng: np.random.Generator
    ) -> None:
        self.cold_start_s = cold_start_s
        self.jitter = jitter
        self._rng = rng
        self._ready = initial_ready  # replicas serving
        self._starting: list[float] = []  # ready times of replicas still starting, sorted

    @property
    def ready(self) -> int:
        return self._ready

    @property
    def requested(self) -> int:
        """Replicas costing GPU time: starting ones hold a GPU too."""
        return self._ready + len(self._starting)

    def advance_to(self, now_s: float) -> None:
        """Starting replicas whose cold start has elapsed begin serving."""
        done = bisect.bisect_right(self._starting, now_s)
        if done:
            self._ready += done
            del self._starting[:done]

    def scale_to(self, desired: int, now_s: float) -> bool:
        """Returns True when the replica count changed."""
        desired = max(0, int(desired))
        current = self.requested
        if desired > current:
            n = desired - current
            factors = self._rng.uniform(1 - self.jitter, 1 + self.jitter, size=n)
            for f in factors:
                bisect.insort(self._starting, now_s + self.cold_start_s * float(f))
            return True
        if desired < current:
            remove = current - desired
            cancel = min(remove, len(self._starting))
            if cancel:
                del self._starting[len(self._starting) - cancel :]  # latest-ready first
            self._ready -= remove - cancel
            return True
        return False
