"""A regular bucketed demand series, and the one way every source is put onto that grid.

Sources are irregular: rate rows of 600 s or ~433 s, Prometheus steps, hand-made CSVs with a
missing row. Each is described as *segments* (a start, a duration and a rate held over it)
and re-bucketed by integrating: bucket value = integral of the rate over the part of the
bucket that some segment covers / the covered time. A bucket no segment touches is NaN (a
gap, as in `autoscaler.window.Window`), never 0. Worked number: segments 100/s on [0, 600)
and 200/s on [600, 1200), bucket width 900 s -> bucket 0 = (100*600 + 200*300) / 900 =
133.3/s; bucket 1 covers [900, 1800) of which 300 s are covered -> 200/s.

Buckets are aligned to absolute multiples of the width (like the Window), so the bucket
index the forecasters and ConformalUpper see is `round(end_s / bucket_s)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# A bucket covered for less than this share of its width is a rounding sliver at a series'
# end (433 s rows re-bucketed at 432.9277... s), not data.
_MIN_COVERED_SHARE = 1e-6
UNITS = ("tokens/s", "requests/s")
# 100x a week of minute buckets (the default Prometheus look-back), ~2 years of them: 8 MB
# of values. A ten-year span at 60 s asked for 5.3 M buckets, a 1e10 s gap for 167 M.
MAX_SERIES_BUCKETS = 1_000_000


@dataclass(frozen=True)
class DemandSeries:
    """Bucket i covers [start_s + i * bucket_s, start_s + (i + 1) * bucket_s); NaN = no data."""

    start_s: float
    bucket_s: float
    values: np.ndarray
    unit: str  # "tokens/s" (prompt + generation) or "requests/s"
    name: str
    source: str
    note: str = ""  # e.g. why the unit is requests/s although tokens were asked for

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", np.asarray(self.values, dtype=np.float64))
        if not (math.isfinite(self.bucket_s) and self.bucket_s > 0):
            raise ValueError(f"bucket_s must be > 0, got {self.bucket_s}")
        if self.values.ndim != 1:
            raise ValueError("values must be a 1-D array")
        finite = self.values[np.isfinite(self.values)]
        if np.any(finite < 0) or np.any(np.isinf(self.values)):
            raise ValueError("values must be >= 0 (NaN marks a gap)")
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {self.unit!r}")

    @property
    def n_buckets(self) -> int:
        return int(self.values.size)

    @property
    def span_s(self) -> float:
        return self.n_buckets * self.bucket_s

    @property
    def bucket_starts_s(self) -> np.ndarray:
        return self.start_s + self.bucket_s * np.arange(self.n_buckets)

    @property
    def gap_fraction(self) -> float:
        return float(np.mean(~np.isfinite(self.values))) if self.n_buckets else 0.0

    def describe(self) -> dict[str, object]:
        """The `series` section of backtest.json."""
        return {
            "name": self.name,
            "source": self.source,
            "unit": self.unit,
            "bucket_s": self.bucket_s,
            "buckets": self.n_buckets,
            "span_s": self.span_s,
            "gap_fraction": round(self.gap_fraction, 6),
            "mean": float(np.nanmean(self.values)) if np.isfinite(self.values).any() else None,
            "note": self.note,
        }


def median_step_s(t_s: np.ndarray) -> float:
    """The typical spacing of sorted times; DEFAULT for fewer than two."""
    steps = np.diff(np.asarray(t_s, dtype=np.float64))
    return float(np.median(steps)) if steps.size else 60.0


def from_segments(
    starts_s: np.ndarray,
    durations_s: np.ndarray,
    rates: np.ndarray,
    bucket_s: float,
    *,
    unit: str,
    name: str,
    source: str,
    note: str = "",
) -> DemandSeries:
    """Re-buckets segments (sorted, non-overlapping; NaN rate = a gap) onto the grid.

    Leading and trailing empty buckets are dropped, interior ones stay NaN.
    """
    starts = np.asarray(starts_s, dtype=np.float64)
    durations = np.asarray(durations_s, dtype=np.float64)
    rate = np.asarray(rates, dtype=np.float64)
    keep = np.isfinite(rate) & (durations > 0)
    starts, durations, rate = starts[keep], durations[keep], rate[keep]
    if starts.size == 0:
        return DemandSeries(0.0, bucket_s, np.empty(0), unit, name, source, note)
    ends = starts + durations
    if np.any(starts[1:] < ends[:-1] - 1e-9 * bucket_s):
        raise ValueError("segments overlap")
    # Cumulative integral F and covered time C are piecewise linear with knots at every
    # segment start and end (flat over gaps), so np.interp evaluates them at bucket edges.
    knots = np.column_stack([starts, ends]).ravel()
    area = np.cumsum(rate * durations)
    covered = np.cumsum(durations)
    f_knots = np.column_stack([area - rate * durations, area]).ravel()
    c_knots = np.column_stack([covered - durations, covered]).ravel()
    check_bucket_count((ends[-1] - starts[0]) / bucket_s, bucket_s, source)
    first = math.floor(starts[0] / bucket_s)
    last = math.ceil(ends[-1] / bucket_s)
    edges = bucket_s * np.arange(first, last + 1)
    knots = np.maximum.accumulate(knots)  # float noise where a start equals the previous end
    d_area = np.diff(np.interp(edges, knots, f_knots))
    d_covered = np.diff(np.interp(edges, knots, c_knots))
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(d_covered > _MIN_COVERED_SHARE * bucket_s, d_area / d_covered, np.nan)
    values = np.maximum(values, 0.0)  # interpolation noise must not make -1e-12 demand
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size == 0:
        return DemandSeries(0.0, bucket_s, np.empty(0), unit, name, source, note)
    values = values[finite[0] : finite[-1] + 1]
    return DemandSeries(float(edges[finite[0]]), bucket_s, values, unit, name, source, note)


def from_events(
    times_s: np.ndarray,
    weights: np.ndarray,
    bucket_s: float,
    *,
    unit: str,
    name: str,
    source: str,
    note: str = "",
) -> DemandSeries:
    """Sum of `weights` per bucket / bucket_s, over the *complete* buckets from 0.

    For request traces: an empty bucket is zero demand (no one asked), not a gap. The bucket
    holding the last event is dropped unless it is complete, since a trace ends mid-bucket.
    Worked number: 3 requests of 1,000 + 30 tokens in a 60 s bucket -> 51.5 tokens/s.
    """
    times = np.asarray(times_s, dtype=np.float64)
    if times.size == 0:
        return DemandSeries(0.0, bucket_s, np.empty(0), unit, name, source, note)
    check_bucket_count(float(times.max()) / bucket_s, bucket_s, source)
    n = int(times.max() // bucket_s)  # complete buckets before the last event's bucket
    index = (times // bucket_s).astype(np.int64)
    inside = index < n
    sums = np.bincount(index[inside], weights=np.asarray(weights, float)[inside], minlength=n)
    return DemandSeries(0.0, bucket_s, sums / bucket_s, unit, name, source, note)


def check_bucket_count(buckets: float, bucket_s: float, source: str) -> None:
    """ValueError naming the source when a span needs more than MAX_SERIES_BUCKETS buckets;
    called before any array of them exists (a float count: 1e300 s has no int worth making)."""
    if buckets > MAX_SERIES_BUCKETS:
        raise ValueError(
            f"{source}: the series spans {buckets:,.0f} buckets of {bucket_s:g} s "
            f"({buckets * bucket_s / 86400:,.1f} days), over the limit of "
            f"{MAX_SERIES_BUCKETS:,} (MAX_SERIES_BUCKETS): a longer --bucket-s or a shorter span"
        )
