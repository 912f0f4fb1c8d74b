"""Out-of-sample absolute errors of several forecasters, per horizon step, over a window.

Every forecast is remembered by its origin bucket; when a bucket is observed, each member's
error at every step that predicted it is stored in a ring (row = scored bucket). Same
bookkeeping as ConformalUpper, but absolute (the members are compared on the same buckets,
so no scale is needed) and rows may be partial (a member that failed has no forecast).
"""

from __future__ import annotations

import numpy as np


class MemberErrors:
    def __init__(self, members: int, bucket_s: float, window_buckets: int) -> None:
        self.members = members
        self.bucket_s = bucket_s
        self._rows = max(1, window_buckets)
        self._errors = np.full((self._rows, members, 0), np.nan)
        self._next_row = 0
        self._pending: dict[int, np.ndarray] = {}  # origin bucket -> (members, steps) means
        self._scored_until = -1

    def score(self, history: np.ndarray, origin: int) -> None:
        """Score the buckets of `history` (ending just before `origin`) not yet scored."""
        newest = origin - 1
        first = max(self._scored_until + 1, newest - history.size + 1)
        steps = self._errors.shape[2]
        for bucket in range(first, newest + 1):
            actual = history[bucket - newest - 1]
            if not np.isfinite(actual) or steps == 0:
                continue
            row = np.full((self.members, steps), np.nan)
            for step in range(steps):
                made = self._pending.get(bucket - step)
                if made is not None and step < made.shape[1]:
                    row[:, step] = np.abs(actual - made[:, step])
            if np.isfinite(row).any():
                self._errors[self._next_row % self._rows] = row
                self._next_row += 1
        self._scored_until = max(self._scored_until, newest)
        for stale in [o for o in self._pending if o <= newest - max(steps, 1)]:
            del self._pending[stale]

    def remember(self, origin: int, means: np.ndarray) -> None:
        """`means` is (members, steps); NaN where a member had no forecast."""
        steps = means.shape[1]
        if self._errors.shape[2] < steps:
            grow = np.full((self._rows, self.members, steps - self._errors.shape[2]), np.nan)
            self._errors = np.concatenate([self._errors, grow], axis=2)
        self._pending[origin] = means

    def mean_abs(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """(members, steps) mean absolute error and the count of errors behind each."""
        errors = self._errors[: min(self._next_row, self._rows), :, :steps]
        counts = np.isfinite(errors).sum(axis=0)
        total = np.nansum(errors, axis=0)
        mae = np.divide(total, counts, out=np.full(total.shape, np.nan), where=counts > 0)
        if mae.shape[1] < steps:  # never asked this far ahead yet
            pad = np.full((self.members, steps - mae.shape[1]), np.nan)
            mae = np.hstack([mae, pad])
            counts = np.hstack([counts, np.zeros(pad.shape, dtype=int)])
        return mae, counts
