"""A model's history in Prometheus as a rate series to replay (`prewarm tune --prometheus`).

The same range query production back-fills from (`PrometheusSource.history`: vLLM's prompt
and generation token counters and finished requests, summed over the model's pods) is read
every `bucket_s` over the look-back and written as a `--format rate` CSV,
`t_s,rate_rps,input_tokens_per_s,output_tokens_per_s`, one row per bucket. The sample at t is
the mean rate over (t - bucket_s, t], so its row starts at t - bucket_s. Replays then
synthesise arrivals from it as for any rate trace (seeded, Poisson unless asked otherwise),
with each request's prompt and output sizes drawn around token rate / request rate.

Request rates: `rate(vllm:request_success_total)` when the fleet exports it; without it (or
with none finishing) they are the prompt token rate over the profile's typical prompt
(`typical_request.prompt_tokens`), which keeps the token demand, the quantity the planner
sizes replicas by, exactly as Prometheus saw it. A step Prometheus has no sample for holds
the previous row's rates (the rate format has no gaps); `gaps` counts them.

Worked number: a 6 h look-back at 60 s buckets is 360 rows; 100 prompt + 20 generation tok/s
without a request counter and a 2,048-token typical prompt is 0.0488 requests/s of 2,048
prompt and 410 output tokens on average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from autoscaler.backtest.prometheus import bucket_window, read_history
from autoscaler.metrics.prometheus_source import redact
from autoscaler.metrics.promql import DEFAULT_NAMES, MetricNames
from autoscaler.metrics.source import ModelQuery
from autoscaler.observation import Observation
from autoscaler.profile import TypicalRequest

DEFAULT_BUCKET_S = 60.0


@dataclass(frozen=True)
class PrometheusHistory:
    """The rows written, and what a report says about them."""

    path: Path
    rows: int
    gaps: int  # steps without a sample, held at the previous row's rates
    start_s: float  # epoch s of the first row's start
    requests_from: str  # "vllm:request_success_total" or "typical_request.prompt_tokens"
    source: str  # the redacted URL and the model


def rate_rows(
    observations: list[Observation], bucket_s: float, typical: TypicalRequest
) -> tuple[list[tuple[float, float, float, float]], str]:
    """(row start s, requests/s, prompt tok/s, generation tok/s) per observation, and where
    the request rate came from."""
    counted = any(o.requests_per_s > 0 for o in observations)
    rows = []
    for o in observations:
        rps = o.requests_per_s if counted else o.prompt_tokens_per_s / typical.prompt_tokens
        rows.append((o.t_s - bucket_s, rps, o.prompt_tokens_per_s, o.generation_tokens_per_s))
    return rows, ("vllm:request_success_total" if counted else "typical_request.prompt_tokens")


def fetch_history(
    url: str,
    model: str,
    path: Path,
    *,
    end_s: float,
    lookback_s: float,
    typical: TypicalRequest,
    bucket_s: float = DEFAULT_BUCKET_S,
    namespace: str | None = None,
    names: MetricNames = DEFAULT_NAMES,
    timeout_s: float = 30.0,
) -> PrometheusHistory:
    """Reads (end_s - lookback_s, end_s], aligned down to whole buckets, and writes `path`.
    ValueError when the range is empty or Prometheus has no sample for the model in it;
    MetricSourceError when Prometheus fails."""
    if not (math.isfinite(end_s) and math.isfinite(lookback_s) and lookback_s >= bucket_s > 0):
        raise ValueError(
            f"need a finite end and look-back >= bucket > 0, got end {end_s:g}, look-back "
            f"{lookback_s:g} s, bucket {bucket_s:g} s"
        )
    start, end = bucket_window(end_s, lookback_s, bucket_s)
    query = ModelQuery(model, namespace)
    observations = read_history(url, query, start, end, bucket_s, names, timeout_s)
    where = f"Prometheus at {redact(url)}, model_name={model!r}" + (
        f" namespace={namespace!r}" if namespace else ""
    )
    if not observations:
        raise ValueError(
            f"{where}: no samples between {start:.0f} and {end:.0f} (epoch s); check --model, "
            "--namespace, --end-s and --lookback-s"
        )
    rows, requests_from = rate_rows(observations, bucket_s, typical)
    expected = int(round((end - start) / bucket_s)) + 1
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["t_s,rate_rps,input_tokens_per_s,output_tokens_per_s"]
    lines += [f"{t:.3f},{rps:.9g},{prompt:.9g},{gen:.9g}" for t, rps, prompt, gen in rows]
    path.write_text("\n".join(lines) + "\n")
    return PrometheusHistory(
        path=path,
        rows=len(rows),
        gaps=max(0, expected - len(rows)),
        start_s=rows[0][0],
        requests_from=requests_from,
        source=where,
    )
