"""Long histories averaged into coarse buckets aligned to absolute time.

A daily season of one-minute buckets is 1,440 values; five-minute buckets make it 288, so
fits are ~5x cheaper and the noise of single minutes averages out. The coarse grid is aligned
to absolute time (bucket k covers [k w, (k+1) w)), so a model's state catches up exactly after
the window slides and a bucket's phase in the day is `k mod period` whatever the history
length. The coarse bucket still filling (`partial` fine buckets) is left out of fits and
forecast as coarse step 0. Worked number: 60 s buckets, 300 s coarse buckets, history ending
at 10:07 -> partial = 2 (10:05 and 10:06 wait), the newest coarse bucket is 10:00-10:05, and
fine steps 10:07, 10:08, 10:09 read coarse step 0, fine step 10:10 reads coarse step 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CoarseView:
    values: np.ndarray  # complete coarse buckets, oldest first, finite
    end_s: float  # end time of the newest complete coarse bucket
    width_s: float  # coarse bucket width (a whole number of fine buckets)
    factor: int  # fine buckets per coarse bucket
    partial: int  # fine buckets of the coarse bucket still filling

    @property
    def first_index(self) -> int:
        """Absolute index (start_s / width_s) of the oldest coarse bucket."""
        return self.end_index - self.values.size

    @property
    def end_index(self) -> int:
        """Absolute index of the first coarse bucket not yet complete (forecast step 0)."""
        return int(round(self.end_s / self.width_s))

    def indices(self) -> np.ndarray:
        """Absolute indices of the complete coarse buckets, oldest first."""
        return np.arange(self.first_index, self.end_index)

    def steps_for(self, horizon_steps: int) -> int:
        """Coarse steps whose forecast covers `horizon_steps` fine steps."""
        return int(np.ceil((horizon_steps + self.partial) / self.factor))

    def to_fine(self, coarse_mean: np.ndarray, horizon_steps: int) -> np.ndarray:
        # Fine step k lands in coarse step (partial + k) // factor: the filling one is step 0.
        idx = (np.arange(horizon_steps) + self.partial) // self.factor
        return np.asarray(coarse_mean, dtype=float)[idx]


def coarse_factor(bucket_s: float, fit_bucket_s: float) -> int:
    return max(1, int(round(fit_bucket_s / bucket_s)))


def coarse_view(
    filled: np.ndarray, end_s: float, bucket_s: float, fit_bucket_s: float
) -> CoarseView:
    """`filled` is a finite fine history (see clean_history) ending at `end_s`."""
    factor = coarse_factor(bucket_s, fit_bucket_s)
    width_s = factor * bucket_s
    partial = int(round((end_s % width_s) / bucket_s)) % factor
    complete = filled[: filled.size - partial]
    start = complete.size % factor  # an incomplete oldest group is dropped
    values = complete[start:].reshape(-1, factor).mean(axis=1)
    return CoarseView(values, end_s - partial * bucket_s, width_s, factor, partial)
