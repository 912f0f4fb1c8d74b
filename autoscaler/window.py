"""Time-bucketed history of a model's token demand, for the forecasters.

A ring of `history_s / bucket_s` buckets, each holding the mean of the samples that fell in
it. Buckets are aligned to absolute time (bucket k covers [k * bucket_s, (k+1) * bucket_s)),
so a restart that back-fills history lands samples in the same buckets. Empty buckets are
NaN: forecasters see gaps as gaps, not as zero demand.
"""

from __future__ import annotations

import math

import numpy as np

from autoscaler.observation import Observation

SERIES = ("prompt_tokens_per_s", "generation_tokens_per_s")


class Window:
    def __init__(self, bucket_s: float, history_s: float) -> None:
        if bucket_s <= 0 or history_s < bucket_s:
            raise ValueError(f"need 0 < bucket_s <= history_s, got {bucket_s}, {history_s}")
        self.bucket_s = float(bucket_s)
        self.capacity = int(math.ceil(history_s / bucket_s))  # complete buckets kept
        # One extra slot so the bucket still filling never overwrites the oldest complete one.
        self._slots = self.capacity + 1
        # float32 sums: a thousand models x days of minutes must fit in a small pod; a bucket
        # mean of a few samples keeps 7 significant digits, far below demand noise.
        self._sums = np.zeros((len(SERIES), self._slots), dtype=np.float32)
        self._counts = np.zeros(self._slots, dtype=np.int32)
        self._first: int | None = None  # absolute index of the oldest bucket ever filled
        self._newest: int | None = None  # absolute index of the newest bucket seen
        self.latest: Observation | None = None
        # The sample before `latest`: the planner reads the queue's growth between the two.
        self.previous: Observation | None = None
        # What `latest` put in its bucket (its rates, or the demand given for it): a resize
        # carries it over, so the filling bucket keeps demand, not the served rates.
        self._latest_demand: tuple[float, float] | None = None
        self.rejected_out_of_order = 0

    def add(self, obs: Observation, demand: tuple[float, float] | None = None) -> bool:
        """Adds a sample; returns False (and counts it) when it is older than the latest.

        `demand`: the (prompt, generation) rates to bucket instead of the served ones
        (queue_work.arrived_token_rates); `latest` stays the sample as observed."""
        if self.latest is not None and obs.t_s < self.latest.t_s:
            self.rejected_out_of_order += 1
            return False
        bucket = int(obs.t_s // self.bucket_s)
        if self._newest is None:
            self._first = bucket
        elif bucket > self._newest:
            self._clear(self._newest + 1, bucket)
        self._newest = bucket if self._newest is None else max(self._newest, bucket)
        slot = bucket % self._slots
        prompt, generation = (
            (obs.prompt_tokens_per_s, obs.generation_tokens_per_s) if demand is None else demand
        )
        self._sums[0, slot] += prompt
        self._sums[1, slot] += generation
        self._counts[slot] += 1
        if self.latest is not None and obs.t_s > self.latest.t_s:
            self.previous = self.latest
        self.latest = obs
        self._latest_demand = (prompt, generation)
        return True

    def complete(self, now_s: float) -> tuple[np.ndarray, float]:
        """Buckets that ended by `now_s`, oldest first: (array[len(SERIES), n], end_s).

        The bucket still filling is left out so a forecaster never mistakes a quarter-full
        bucket for a drop in demand.
        """
        end_bucket = int(now_s // self.bucket_s)  # first bucket not yet complete
        end_s = end_bucket * self.bucket_s
        if self._first is None or end_bucket <= self._first:
            return np.empty((len(SERIES), 0)), end_s
        start = max(self._first, end_bucket - self.capacity)
        if self._newest is not None and self._newest < end_bucket - 1:
            self._clear(self._newest + 1, end_bucket - 1)  # silence is a gap, not old data
            self._newest = end_bucket - 1
        idx = np.arange(start, end_bucket) % self._slots
        counts = self._counts[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(counts > 0, self._sums[:, idx].astype(np.float64) / counts, np.nan)
        return values, end_s

    def resized(self, bucket_s: float, history_s: float, now_s: float) -> Window:
        """A new window with other bucket/history widths, holding this one's history.

        Each complete bucket is replayed as one sample at its midpoint, so an operator who
        changes `bucket_s` or `history_s` in a profile keeps the history (re-bucketed means;
        a coarser bucket averages the finer ones it spans).
        """
        fresh = Window(bucket_s, history_s)
        values, end_s = self.complete(now_s)
        starts_s = end_s - self.bucket_s * np.arange(values.shape[1], 0, -1)
        for i in np.flatnonzero(np.isfinite(values).all(axis=0)):
            midpoint_s = float(starts_s[i] + self.bucket_s / 2)
            fresh.add(Observation(midpoint_s, float(values[0, i]), float(values[1, i]), 0, 0, 0, 0))
        if self.latest is not None and self.latest.t_s >= end_s:
            # The bucket still filling: its newest sample goes on, as the demand it added.
            fresh.add(self.latest, self._latest_demand)
        else:
            fresh.latest = self.latest  # the planner reads queue and KV from it
        fresh.previous = self.previous
        fresh._latest_demand = self._latest_demand
        return fresh

    def _clear(self, first_bucket: int, last_bucket: int) -> None:
        if last_bucket - first_bucket + 1 >= self._slots:
            self._sums[:] = 0.0
            self._counts[:] = 0
            return
        idx = np.arange(first_bucket, last_bucket + 1) % self._slots
        self._sums[:, idx] = 0.0
        self._counts[idx] = 0
