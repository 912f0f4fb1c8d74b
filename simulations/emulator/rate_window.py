"""The last minute of the emulated fleet, as `rate(x[1m])` over its scrapes would see it.

A ring of per-trace-second records: lifetime cumulative counts (which never reset, so a
`restart()` looks to these rates exactly as a counter reset looks to Prometheus' `rate()`:
invisible) and the second's TTFT bucket and served requests, for `histogram_quantile`.
Preallocated numpy arrays: recording a second costs a few stores, and a fast replay
(60 s of wall time x speed 1,000 = 60,000 trace seconds) still fits in a few MB.
"""

from __future__ import annotations

import numpy as np

from simulations.emulator.histogram import TTFT_BUCKETS_S, cumulative, histogram_quantile


class RateWindow:
    """Holds `window_s` trace seconds after a baseline record (so `window_s + 1` records)."""

    def __init__(self, window_s: int) -> None:
        self._size = max(1, window_s) + 1
        self._cum = np.zeros((self._size, 3))  # prompt, generation, finished requests
        self._bucket = np.zeros(self._size, dtype=np.int64)
        self._served = np.zeros(self._size)
        self._count = 0  # records written so far (the newest is at (count - 1) % size)

    def record(
        self,
        prompt_cum: float,
        generation_cum: float,
        requests_cum: float,
        bucket: int,
        served_requests: float,
    ) -> None:
        """One trace second's end state. `bucket` indexes TTFT_BUCKETS_S for the second's
        served requests (ignored when `served_requests` is 0)."""
        i = self._count % self._size
        self._cum[i] = (prompt_cum, generation_cum, requests_cum)
        self._bucket[i] = bucket
        self._served[i] = served_requests
        self._count += 1

    @property
    def span_s(self) -> int:
        """Trace seconds between the oldest and the newest record."""
        return max(0, min(self._count, self._size) - 1)

    def _order(self) -> np.ndarray:
        """Ring positions oldest first."""
        held = min(self._count, self._size)
        return (np.arange(self._count - held, self._count)) % self._size

    def increases(self) -> tuple[float, float, float]:
        """(prompt tokens, generation tokens, finished requests) over the window."""
        if self.span_s == 0:
            return (0.0, 0.0, 0.0)
        order = self._order()
        delta = self._cum[order[-1]] - self._cum[order[0]]
        return (float(delta[0]), float(delta[1]), float(delta[2]))

    def ttft_quantile(self, q: float) -> float | None:
        """`histogram_quantile(q, rate(..._bucket[window]))`; None without served requests."""
        order = self._order()[1:]  # the oldest record is the baseline, not in the window
        if order.size == 0:
            return None
        counts = np.bincount(
            self._bucket[order], weights=self._served[order], minlength=len(TTFT_BUCKETS_S)
        )
        return histogram_quantile(q, cumulative(counts.tolist()))
