"""Input hygiene shared by the statistical forecasters: counter resets and gaps.

The history holds rates computed from Prometheus counters. When a vLLM pod restarts its
counters start again from zero, and the bucket spanning the restart reads far too low
(often ~0) while its neighbours are normal. A fitted model would take that bucket as a real
collapse of demand, so an isolated dip below `drop_fraction` of *both* neighbours is treated
as missing and forward-filled like a scrape gap. Worked number: neighbours 900 and 950 tok/s,
the bucket reads 12 tok/s < 0.1 x 900 -> masked. The newest bucket has no right neighbour,
so a dip there is masked against its left one alone: a real stop of traffic is then believed
one bucket later, an acceptable price because holding demand never shrinks the fleet early.
"""

from __future__ import annotations

import numpy as np

from autoscaler.forecast.forecast import fill_gaps

RESET_DROP_FRACTION = 0.1  # a reset reads ~0; genuine swings between buckets stay above this


def mask_resets(history: np.ndarray, drop_fraction: float = RESET_DROP_FRACTION) -> np.ndarray:
    """A copy of `history` with isolated deep dips (counter resets) replaced by NaN."""
    values = np.array(history, dtype=float)
    if values.size < 2:
        return values
    # Neighbours across a gap are the nearest observed values on each side. With none to
    # the right (the newest buckets), a dip is judged by its left neighbour alone.
    prev = np.concatenate(([np.nan], fill_gaps(values)[:-1]))
    nxt = np.concatenate((_next_observed(values)[1:], [np.inf]))
    with np.errstate(invalid="ignore"):
        dip = (values < drop_fraction * prev) & (values < drop_fraction * nxt)
    values[dip] = np.nan
    return values


def _next_observed(values: np.ndarray) -> np.ndarray:
    """Each bucket's own value, or the first observed value after it (inf if none)."""
    backward = fill_gaps(values[::-1])[::-1]
    observed = np.flatnonzero(np.isfinite(values))
    if observed.size:
        backward[observed[-1] + 1 :] = np.inf
    return backward


def clean_history(history: np.ndarray) -> np.ndarray:
    """Counter resets masked, then every gap forward-filled: a finite series, same length."""
    return fill_gaps(mask_resets(np.asarray(history, dtype=float)))
