"""Rate series (`t_s,rate_rps[,input_tokens_per_s,output_tokens_per_s]`) and arrivals from them.

Aggregate traces (ServeGen, Azure 2024) give request rates per window, not requests. Arrivals
are synthesised by time-rescaling: events of a unit-rate renewal process (exponential gaps
for Poisson, Gamma gaps with the asked CV for bursty traffic) are mapped through the inverse
of the cumulative intensity Lambda(t). For Poisson this is exactly the non-homogeneous
Poisson process: each row gets Poisson(rate x step) requests at uniform times, but they come
out already sorted, so no 17 M-element sort is needed. One seeded numpy Generator drives
everything, so a seed fixes the whole trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulations.traces.csv_rows import csv_rows, number, open_trace
from simulations.traces.request_trace import RequestTrace, TraceFormatError
from simulations.traces.span import MAX_TIME_S

# Azure 2023 code-assistant means: long prompts, short completions. (The conversation trace
# averages ~1,155 prompt / ~211 output tokens; pass those for chat-like workloads.)
DEFAULT_PROMPT_TOKENS = 2048.0
DEFAULT_OUTPUT_TOKENS = 28.0
MAX_TOKENS = 131072  # a 128 Ki context; longer draws are clipped, not redrawn
TOKEN_SIGMA = 1.0  # lognormal spread of request lengths, as in public traces
DEFAULT_STEP_S = 60.0  # how long a one-row series lasts: it has no step to take a median of
PROCESSES = ("poisson", "gamma")
# Beyond this many expected requests, ask for max_requests instead of trying to allocate
# gigabytes: 200 M requests are ~2.4 GB of arrays.
SAFETY_LIMIT = 200_000_000
# Work in blocks of this many requests so temporaries stay ~8 MB instead of a second copy
# of every 17 M-element array; results do not depend on it.
CHUNK = 1 << 20


@dataclass(frozen=True)
class RateSeries:
    """Request (and optionally token) rates per window.

    Row i holds from t_s[i] to t_s[i + 1]; the last row lasts the median step (DEFAULT_STEP_S
    for a single row). Rates are per second. Arrays are coerced to float64 and checked on
    construction, so a series built in code is as trustworthy as a loaded one.
    """

    t_s: np.ndarray
    rate_rps: np.ndarray
    input_tokens_per_s: np.ndarray | None = None
    output_tokens_per_s: np.ndarray | None = None
    name: str = "rate-series"
    source: str = "synthetic"
    meta: dict[str, Any] = field(default_factory=dict)  # carried into the trace's meta
    # Rows that were collection gaps, bridged by the reader (ServeGen): kept so that a window
    # of the series (window.py) counts its own gaps, not the whole file's.
    gap: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("t_s", "rate_rps", "input_tokens_per_s", "output_tokens_per_s"):
            value = getattr(self, name)
            if value is not None:
                # frozen dataclass: object.__setattr__ is the sanctioned way to normalise.
                object.__setattr__(self, name, np.asarray(value, dtype=np.float64))
        t = self.t_s
        if t.ndim != 1 or t.size == 0:
            raise ValueError("t_s must be a non-empty 1-D array")
        if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            raise ValueError("t_s must be finite and strictly increasing")
        for name in ("rate_rps", "input_tokens_per_s", "output_tokens_per_s"):
            value = getattr(self, name)
            if value is None:
                continue
            if value.shape != t.shape:
                raise ValueError(f"{name} has shape {value.shape}, t_s has {t.shape}")
            if not np.all(np.isfinite(value) & (value >= 0)):
                raise ValueError(f"{name} must be finite and >= 0")
        if self.gap is not None and np.shape(self.gap) != t.shape:
            raise ValueError(f"gap has shape {np.shape(self.gap)}, t_s has {t.shape}")

    @property
    def step_s(self) -> np.ndarray:
        """Length of each row in seconds."""
        steps = np.diff(self.t_s)
        last = float(np.median(steps)) if steps.size else DEFAULT_STEP_S
        return np.append(steps, last)

    @property
    def end_s(self) -> float:
        """When the last row ends."""
        return float(self.t_s[-1] + self.step_s[-1])

    @property
    def expected_requests(self) -> float:
        """The integral of the rate: the mean request count of a synthesised trace."""
        return float(np.sum(self.rate_rps * self.step_s))


def load_rate_series(path: str | Path) -> RateSeries:
    """Reads `t_s,rate_rps[,input_tokens_per_s,output_tokens_per_s]`; other columns are ignored.

    t_s must strictly increase and is shifted so the first row starts at 0 (arrivals are
    relative to the trace start); rates and token rates must be finite and >= 0.
    """
    path = open_trace(path)
    columns: dict[str, list[float]] = {"t_s": [], "rate_rps": []}
    optional = ("input_tokens_per_s", "output_tokens_per_s")
    previous_t = -math.inf
    for line, row in csv_rows(path, ("t_s", "rate_rps")):
        t = number(path, line, "t_s", row["t_s"], minimum=-MAX_TIME_S, maximum=MAX_TIME_S)
        if t <= previous_t:
            raise TraceFormatError(path, line, f"t_s must increase, {t:g} follows {previous_t:g}")
        previous_t = t
        columns["t_s"].append(t)
        columns["rate_rps"].append(number(path, line, "rate_rps", row["rate_rps"]))
        for name in optional:
            if name in row:
                columns.setdefault(name, []).append(number(path, line, name, row[name]))
    if not columns["t_s"]:
        raise TraceFormatError(path, 2, "no rows after the header")
    t_s = np.asarray(columns["t_s"])

    def maybe(name: str) -> np.ndarray | None:
        return np.asarray(columns[name]) if name in columns else None

    return RateSeries(
        t_s=t_s - t_s[0],
        rate_rps=np.asarray(columns["rate_rps"]),
        input_tokens_per_s=maybe("input_tokens_per_s"),
        output_tokens_per_s=maybe("output_tokens_per_s"),
        name=path.stem,
        source=str(path),
    )


def synthesise_arrivals(
    series: RateSeries,
    *,
    seed: int,
    process: str = "poisson",
    cv: float = 1.0,
    mean_prompt_tokens: float = DEFAULT_PROMPT_TOKENS,
    mean_output_tokens: float = DEFAULT_OUTPUT_TOKENS,
    max_requests: int | None = None,
) -> RequestTrace:
    """Requests whose rate follows `series`; token lengths follow its token rates if given.

    process="poisson" ignores `cv` (a Poisson process has CV 1); "gamma" draws renewal gaps
    with coefficient of variation `cv` (>1 bursty, <1 smoother than Poisson). Token lengths
    are lognormal (sigma TOKEN_SIGMA) with per-row mean tokens_per_s / rate_rps where the
    series has token rates, else the mean_*_tokens defaults; clipped to [1, MAX_TOKENS].
    max_requests keeps only the earliest that many arrivals (meta["truncated"] says whether
    it bit). Worked number: a row of 600 s at 2.5 req/s yields ~1,500 requests; with 5,000
    input tok/s their prompts average 2,000 tokens.
    """
    if process not in PROCESSES:
        raise ValueError(f"process must be 'poisson' or 'gamma', got {process!r}")
    if not (math.isfinite(cv) and cv > 0):
        raise ValueError(f"cv must be > 0, got {cv}")
    for label, mean in (
        ("mean_prompt_tokens", mean_prompt_tokens),
        ("mean_output_tokens", mean_output_tokens),
    ):
        if not (math.isfinite(mean) and mean > 0):
            raise ValueError(f"{label} must be > 0, got {mean}")
    if max_requests is not None and max_requests < 0:
        raise ValueError(f"max_requests must be >= 0, got {max_requests}")
    rng = np.random.default_rng(seed)
    knots_t = np.append(series.t_s, series.end_s)
    knots_lambda = np.concatenate([[0.0], np.cumsum(series.rate_rps * series.step_s)])
    total = float(knots_lambda[-1])
    if max_requests is None and total > SAFETY_LIMIT:
        raise ValueError(
            f"{series.source}: ~{total:,.0f} requests expected, over {SAFETY_LIMIT:,}; "
            "pass max_requests (CLI: --max-requests) to synthesise the start of it"
        )
    events = _unit_events(rng, total, process, cv, max_requests)
    truncated = max_requests is not None and events.size == max_requests and events.size > 0
    arrival = _rescale_in_place(events, knots_lambda, knots_t)
    # Arrivals are sorted, so each row's requests are one contiguous run: row i owns
    # arrival[starts[i]:starts[i + 1]]. Far cheaper than a per-request row index.
    starts = np.concatenate(
        [[0], np.searchsorted(arrival, series.t_s[1:], side="left"), [arrival.size]]
    )
    prompt_mean = _per_row_mean(series.input_tokens_per_s, series.rate_rps, mean_prompt_tokens)
    output_mean = _per_row_mean(series.output_tokens_per_s, series.rate_rps, mean_output_tokens)
    prompt = _lognormal_tokens(rng, prompt_mean, starts)
    output = _lognormal_tokens(rng, output_mean, starts)
    meta: dict[str, object] = {
        **series.meta,
        "arrivals": process,
        "cv": cv if process == "gamma" else 1.0,
        "seed": seed,
    }
    if max_requests is not None:
        meta |= {"max_requests": max_requests, "truncated": bool(truncated)}
    return RequestTrace(
        name=series.name,
        arrival_s=arrival,
        prompt_tokens=prompt,
        output_tokens=output,
        source=series.source,
        meta=meta,
    )


def _draw_gaps(rng: np.random.Generator, n: int, process: str, cv: float) -> np.ndarray:
    """n inter-event gaps of a unit-rate renewal process (mean 1, CV 1 or `cv`)."""
    if process == "poisson":
        return rng.exponential(1.0, size=n)
    shape = 1.0 / cv**2  # Gamma(k, 1/k) has mean 1 and CV 1/sqrt(k)
    return rng.gamma(shape, 1.0 / shape, size=n)


def _unit_events(
    rng: np.random.Generator, total: float, process: str, cv: float, limit: int | None
) -> np.ndarray:
    """Sorted event times of a unit-rate renewal process on [0, total), at most `limit`."""
    if total <= 0 or limit == 0:
        return np.empty(0)
    spread = max(cv, 1.0) if process == "gamma" else 1.0
    # The count on [0, total) has sd ~ cv * sqrt(total); 8 sd of headroom means one draw
    # almost surely suffices, for ~0.2 % extra work at 17 M requests.
    n = int(total + 8 * spread * math.sqrt(total) + 100)
    if limit is not None:
        n = min(n, limit)
    events = _draw_gaps(rng, n, process, cv)
    np.cumsum(events, out=events)  # in place: no second 17 M-element array
    while events[-1] < total and (limit is None or events.size < limit):
        # Ran short (astronomically rare): continue the same process from the last event.
        more = n if limit is None else min(n, limit - events.size)
        tail = _draw_gaps(rng, more, process, cv)
        np.cumsum(tail, out=tail)
        tail += events[-1]
        events = np.concatenate([events, tail])
    return events[: np.searchsorted(events, total)]


def _rescale_in_place(
    events: np.ndarray, knots_lambda: np.ndarray, knots_t: np.ndarray
) -> np.ndarray:
    """Maps unit-rate event times to real times through the inverse of Lambda(t).

    Lambda is piecewise linear (constant rate within a row), so its inverse is an np.interp
    with the axes swapped. Rows with zero rate have zero-width Lambda intervals, which no
    event can land in: they get no requests. Done in blocks, overwriting `events`.
    """
    for lo in range(0, events.size, CHUNK):
        block = events[lo : lo + CHUNK]
        block[:] = np.interp(block, knots_lambda, knots_t)
    return events


def _per_row_mean(tokens_per_s: np.ndarray | None, rate: np.ndarray, default: float) -> np.ndarray:
    """Mean tokens per request in each row: token rate / request rate, else `default`
    (rows with no token rate, a zero request rate, or zero tokens)."""
    if tokens_per_s is None:
        return np.full(rate.size, default)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = tokens_per_s / rate
    return np.where(np.isfinite(mean) & (mean > 0), mean, default)


def _lognormal_tokens(
    rng: np.random.Generator, row_mean: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """int32 lognormal token counts, request j drawn with its row's mean.

    exp(mu + sigma * z) with z standard normal is exactly what Generator.lognormal computes,
    but drawing z in blocks and working in place avoids a per-request mu array and the
    slow broadcasting path of lognormal(array, scalar).
    """
    mu = np.log(row_mean) - TOKEN_SIGMA**2 / 2  # so the lognormal's mean is row_mean
    n = int(starts[-1])
    tokens = np.empty(n, dtype=np.int32)
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        # Rows overlapping [lo, hi) and how many of their requests fall inside it.
        first = int(np.searchsorted(starts, lo, side="right")) - 1
        last = int(np.searchsorted(starts, hi, side="left"))
        counts = np.diff(np.clip(starts[first : last + 1], lo, hi))
        z = rng.standard_normal(hi - lo)
        z *= TOKEN_SIGMA
        z += np.repeat(mu[first:last], counts)
        np.exp(z, out=z)
        np.rint(z, out=z)
        np.clip(z, 1, MAX_TOKENS, out=z)
        tokens[lo:hi] = z
    return tokens
