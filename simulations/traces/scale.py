"""`--rate-scale` and `--length-scale`: a trace's load changed by a factor as it is loaded.

A public trace rarely fits the profile at hand (ServeGen m-small: ~800-1,000 requests/s of
~140-token prompts, another service's fleet). Scaling on load replaces the hand-made
`--format rate` CSVs that did this before.

- The rate scale X multiplies a rate series' request rate (rate, servegen, azure2024). A
  request list (azure, mooncake, burstgpt) says when each request came: it has no rate to
  multiply, and thinning or cloning its requests would be another trace, so it is refused.
- The length scale Y multiplies each request's prompt and output tokens, in every format. A
  rate series' per-row mean lengths are token rate / request rate, so its token rates are
  multiplied by X x Y (and the default lengths of rows without tokens by Y); a request
  list's counts are multiplied and rounded (prompts >= 0, outputs >= 1 token).

Token demand (what backtest and tune forecast) then scales by X x Y and requests/s by X.
Worked number (ServeGen m-small fitted to the bundled profile, X = 0.025, Y = 20): a row of
800 req/s whose requests average 140 prompt tokens (112,000 tok/s) becomes 20 req/s of
2,800-token prompts (56,000 tok/s: half the token demand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from simulations.traces.csv_rows import MAX_INT32
from simulations.traces.formats import RATE_FORMATS, trace_format
from simulations.traces.rate_demand import DemandRates
from simulations.traces.rate_series import (
    DEFAULT_OUTPUT_TOKENS,
    DEFAULT_PROMPT_TOKENS,
    RateSeries,
    synthesise_arrivals,
)
from simulations.traces.request_trace import RequestTrace


@dataclass(frozen=True)
class TraceScale:
    rate: float = 1.0  # x requests/s (rate series only)
    length: float = 1.0  # x tokens per request, prompt and output

    @property
    def is_identity(self) -> bool:
        return self.rate == 1.0 and self.length == 1.0

    @property
    def options(self) -> str:
        """The options as a user would type them, for notes: `--rate-scale 0.025 ...`."""
        given = [
            f"{option} {value:g}"
            for option, value in (("--rate-scale", self.rate), ("--length-scale", self.length))
            if value != 1.0
        ]
        return " ".join(given)


UNSCALED = TraceScale()


def check_scale(scale: TraceScale, fmt: str, *, has_trace: bool = True) -> None:
    """ValueError naming the option: a scale that is not a finite number > 0, a scale
    without a trace file, or a rate scale of a format that lists its requests."""
    for option, value in (("--rate-scale", scale.rate), ("--length-scale", scale.length)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{option} must be a finite number > 0, got {value:g}")
    if scale.is_identity:
        return
    if not has_trace:
        raise ValueError(f"{scale.options}: scales apply to a --trace file")
    if scale.rate != 1.0 and not trace_format(fmt).is_rate_series:
        raise ValueError(
            f"--rate-scale applies to rate series ({', '.join(RATE_FORMATS)}); {fmt!r} lists "
            "its requests, so there is no rate to scale (--length-scale does apply to it)"
        )


def scaled_series(series: RateSeries, scale: TraceScale) -> RateSeries:
    """The series at scale: requests/s x rate, token rates x rate x length (so each row's
    mean lengths, token rate / request rate, x length). Worked number: 2 req/s with 4,000
    input tok/s (2,000-token prompts) at rate 0.5, length 3 -> 1 req/s with 6,000 input
    tok/s (6,000-token prompts)."""
    if scale.is_identity:
        return series
    tokens = scale.rate * scale.length

    def times(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values * tokens

    return replace(
        series,
        rate_rps=series.rate_rps * scale.rate,
        input_tokens_per_s=times(series.input_tokens_per_s),
        output_tokens_per_s=times(series.output_tokens_per_s),
        meta={**series.meta, **_meta(scale)},
    )


def scaled_arrivals(
    series: RateSeries,
    scale: TraceScale,
    *,
    seed: int,
    process: str = "poisson",
    cv: float = 1.0,
    max_requests: int | None = None,
) -> RequestTrace:
    """`synthesise_arrivals` of `scaled_series`; rows without token rates take the default
    lengths x length (draws are still clipped to MAX_TOKENS). Unscaled, the very same trace:
    multiplying by 1.0 changes no bit."""
    return synthesise_arrivals(
        scaled_series(series, scale),
        seed=seed,
        process=process,
        cv=cv,
        mean_prompt_tokens=DEFAULT_PROMPT_TOKENS * scale.length,
        mean_output_tokens=DEFAULT_OUTPUT_TOKENS * scale.length,
        max_requests=max_requests,
    )


def scaled_requests(trace: RequestTrace, scale: TraceScale) -> RequestTrace:
    """A request list with every prompt and output multiplied by the length scale, rounded
    (outputs stay >= 1 token: a request that generated nothing still took a decode step)."""
    if scale.rate != 1.0:
        raise ValueError(f"--rate-scale: {trace.source} lists its requests")
    if scale.is_identity:
        return trace

    def times(tokens: np.ndarray, least: int) -> np.ndarray:
        scaled = np.rint(tokens.astype(np.float64) * scale.length)
        return np.clip(scaled, least, MAX_INT32).astype(np.int32)

    return RequestTrace(
        trace.name,
        trace.arrival_s,
        times(trace.prompt_tokens, 0),
        times(trace.output_tokens, 1),
        trace.source,
        {**trace.meta, **_meta(scale)},
    )


def scaled_demand(rates: DemandRates, scale: TraceScale) -> DemandRates:
    """Demand read as rates, scaled: tokens/s by rate x length, requests/s by rate."""
    if scale.is_identity:
        return rates
    factor = scale.rate * scale.length if rates.unit == "tokens/s" else scale.rate
    note = f"x {factor:g} ({scale.options})"
    return replace(
        rates,
        values=rates.values * factor,
        note=f"{rates.note}; {note}" if rates.note else note,
    )


def _meta(scale: TraceScale) -> dict[str, float]:
    """What summary.json's trace section says about the scaling."""
    return {"rate_scale": scale.rate, "length_scale": scale.length}
