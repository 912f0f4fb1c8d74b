"""A model's past demand from Prometheus, with the same PromQL production back-fills from.

`PrometheusSource.history` evaluates `sum(rate(vllm:prompt_tokens_total{model_name=...}[w]))`
(and generation) every `bucket_s` with w = max(60 s, bucket_s), so the sample at time t is
the mean rate over (t - bucket_s, t]: it becomes the bucket ending at t. Steps without
samples (no series, scrape outage) become NaN gaps. The range is aligned to whole buckets so
buckets match the Window's absolute alignment.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import numpy as np

from autoscaler.backtest.series import DemandSeries, from_segments
from autoscaler.metrics.prometheus_source import PrometheusSource, redact
from autoscaler.metrics.promql import DEFAULT_NAMES, MetricNames
from autoscaler.metrics.source import ModelQuery
from autoscaler.observation import Observation

DEFAULT_BUCKET_S = 60.0
DEFAULT_LOOKBACK_S = 7 * 86400.0


def load_prometheus(
    url: str,
    model: str,
    *,
    end_s: float,
    lookback_s: float = DEFAULT_LOOKBACK_S,
    bucket_s: float = DEFAULT_BUCKET_S,
    namespace: str | None = None,
    quantity: str = "tokens",
    names: MetricNames = DEFAULT_NAMES,
    timeout_s: float = 30.0,
) -> DemandSeries:
    """Buckets of `bucket_s` over (end_s - lookback_s, end_s], both rounded down to whole
    buckets. Worked number: end 1,000,030 s, lookback 3,600 s, bucket 60 s -> samples at
    996,420 ... 999,960, 60 buckets. Raises MetricSourceError when Prometheus fails."""
    if not (lookback_s >= bucket_s > 0):
        raise ValueError(f"need lookback_s >= bucket_s > 0, got {lookback_s}, {bucket_s}")
    start, end = bucket_window(end_s, lookback_s, bucket_s)
    query = ModelQuery(model, namespace)
    observations = read_history(url, query, start, end, bucket_s, names, timeout_s)
    where = f"{redact(url)} model_name={model!r}" + (
        f" namespace={namespace!r}" if namespace else ""
    )
    return series_from_observations(observations, bucket_s, quantity, model, where)


def bucket_window(end_s: float, lookback_s: float, bucket_s: float) -> tuple[float, float]:
    """The first and last bucket ends of (end_s - lookback_s, end_s], both rounded down to
    whole buckets."""
    end = math.floor(end_s / bucket_s) * bucket_s
    return end - (math.floor(lookback_s / bucket_s) - 1) * bucket_s, end


def read_history(
    url: str,
    query: ModelQuery,
    start_s: float,
    end_s: float,
    bucket_s: float,
    names: MetricNames = DEFAULT_NAMES,
    timeout_s: float = 30.0,
) -> list[Observation]:
    """One model's observations at each bucket end from start_s to end_s (range queries);
    MetricSourceError when Prometheus fails."""
    source = PrometheusSource(url, names=names, timeout_s=timeout_s)
    try:
        return asyncio.run(source.history(query, start_s, end_s, bucket_s))
    finally:
        source.close()


def series_from_observations(
    observations: Sequence[Observation], bucket_s: float, quantity: str, name: str, source: str
) -> DemandSeries:
    """Range-query observations (each the mean rate over the bucket ending at its t_s) as a
    DemandSeries of tokens/s or requests/s."""
    t_s = np.asarray([o.t_s for o in observations], dtype=np.float64)
    if quantity == "tokens":
        rates = [o.prompt_tokens_per_s + o.generation_tokens_per_s for o in observations]
        unit = "tokens/s"
    else:
        rates = [o.requests_per_s for o in observations]
        unit = "requests/s"
    return from_segments(
        t_s - bucket_s,
        np.full(t_s.size, bucket_s),
        np.asarray(rates, dtype=np.float64),
        bucket_s,
        unit=unit,
        name=name,
        source=source,
    )
