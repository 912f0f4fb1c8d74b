"""vLLM's TTFT histogram buckets and Prometheus' `histogram_quantile` over them.

The bucket bounds are the ones vLLM registers for `vllm:time_to_first_token_seconds`, so a
dashboard or an SLO query written against a real fleet reads the emulator the same way.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

# Upper bounds (`le`) in seconds; the last bucket is +Inf.
TTFT_BUCKETS_S: tuple[float, ...] = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
    math.inf,
)


def bucket_index(value_s: float) -> int:
    """Index of the first bucket whose bound is >= value_s (Prometheus buckets are `le`)."""
    return bisect.bisect_left(TTFT_BUCKETS_S, value_s)


def cumulative(counts: Sequence[float]) -> tuple[float, ...]:
    """Per-bucket counts -> the cumulative counts the exposition format carries."""
    total = 0.0
    out = []
    for count in counts:
        total += count
        out.append(total)
    return tuple(out)


def histogram_quantile(q: float, cumulative_counts: Sequence[float]) -> float | None:
    """Prometheus' `histogram_quantile`: linear interpolation inside the bucket holding rank
    q x count, the lowest bucket starting at 0, the +Inf bucket answering its lower bound.

    Worked number: 10 observations, 5 in (0.04, 0.06] and 5 in (0.06, 0.08]: the 0.95
    quantile has rank 9.5, 4.5 of 5 into the second bucket: 0.06 + 0.9 x 0.02 = 0.078 s.
    None when the histogram is empty (Prometheus answers NaN).
    """
    total = cumulative_counts[-1] if cumulative_counts else 0.0
    if total <= 0:
        return None
    rank = q * total
    below = 0.0
    for i, upto in enumerate(cumulative_counts):
        if upto >= rank and upto > below:
            lower = TTFT_BUCKETS_S[i - 1] if i > 0 else 0.0
            upper = TTFT_BUCKETS_S[i]
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - below) / (upto - below)
        below = upto
    return TTFT_BUCKETS_S[-2]
