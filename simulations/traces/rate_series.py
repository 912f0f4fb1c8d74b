"""Rate series (`t_s,rate_rps[,input_tokens_per_s,output_tokens_per_s]`) and arrivals from them.

Aggregate traces (ServeGen, Azure 2024) give request rates per window, not requests. Arrivals
are synthesised by time-rescaling: events of a unit-rate renewal process (exponential gaps
for Poisson, Gamma gaps with the asked CV for bursty traffic) are mapped through the inverse
of the cumulative intensity. One seeded numpy Generator drives everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulations.traces.csv_rows import csv_rows, number, open_trace
from simulations.traces.request_trace import RequestTrace, TraceFormatError

# Azure 2023 code-assistant means: long prompts, short completions.
DEFAULT_PROMPT_TOKENS = 2048.0
DEFAULT_OUTPUT_TOKENS = 28.0
MAX_TOKENS = 131072
TOKEN_SIGMA = 1.0  # lognormal spread of request lengths, as in public traces


@dataclass(frozen=True)
class RateSeries:
    """Row i holds from t_s[i] to t_s[i + 1]; the last row lasts the median step."""

    t_s: np.ndarray
    rate_rps: np.ndarray
    input_tokens_per_s: np.ndarray | None = None
    output_tokens_per_s: np.ndarray | None = None
    name: str = "rate-series"
    source: str = "synthetic"

    @property
    def step_s(self) -> np.ndarray:
        steps = np.diff(self.t_s)
        last = float(np.median(steps)) if steps.size else 60.0
        return np.append(steps, last)

    @property
    def end_s(self) -> float:
        return float(self.t_s[-1] + self.step_s[-1])


def load_rate_series(path: str | Path) -> RateSeries:
    path = open_trace(path)
    columns: dict[str, list[float]] = {"t_s": [], "rate_rps": []}
    optional = ("input_tokens_per_s", "output_tokens_per_s")
    previous_t = -np.inf
    for line, row in csv_rows(path, ("t_s", "rate_rps")):
        t = number(path, line, "t_s", row["t_s"], minimum=-np.inf)
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
) -> RequestTrace:
    """Requests whose rate follows `series`; token lengths follow its token rates if given.

    Worked number: a row of 600 s at 2.5 req/s yields ~1,500 requests; with 5,000 input
    tok/s their prompts average 2,000 tokens.
    """
    if process not in ("poisson", "gamma"):
        raise ValueError(f"process must be 'poisson' or 'gamma', got {process!r}")
    if cv <= 0:
        raise ValueError(f"cv must be > 0, got {cv}")
    rng = np.random.default_rng(seed)
    knots_t = np.append(series.t_s, series.end_s)
    knots_lambda = np.concatenate([[0.0], np.cumsum(series.rate_rps * series.step_s)])
    total = float(knots_lambda[-1])
    events = _unit_events(rng, total, process, cv)
    arrival = np.interp(events, knots_lambda, knots_t)
    row = np.clip(np.searchsorted(series.t_s, arrival, side="right") - 1, 0, series.t_s.size - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        prompt_mean = _per_row_mean(series.input_tokens_per_s, series.rate_rps, mean_prompt_tokens)
        output_mean = _per_row_mean(series.output_tokens_per_s, series.rate_rps, mean_output_tokens)
    prompt = _lognormal_tokens(rng, prompt_mean[row])
    output = _lognormal_tokens(rng, output_mean[row])
    return RequestTrace(
        name=series.name,
        arrival_s=arrival,
        prompt_tokens=prompt,
        output_tokens=output,
        source=series.source,
        meta={"arrivals": process, "cv": cv if process == "gamma" else 1.0, "seed": seed},
    )


def _unit_events(rng: np.random.Generator, total: float, process: str, cv: float) -> np.ndarray:
    """Event times of a unit-rate renewal process on [0, total)."""
    if total <= 0:
        return np.empty(0)
    spread = max(cv, 1.0)
    n = int(total + 8 * spread * np.sqrt(total) + 100)  # enough gaps with overwhelming odds
    while True:
        if process == "poisson":
            gaps = rng.exponential(1.0, size=n)
        else:
            shape = 1.0 / cv**2
            gaps = rng.gamma(shape, 1.0 / shape, size=n)
        events = np.cumsum(gaps)
        if events[-1] >= total:
            return events[: np.searchsorted(events, total)]
        n *= 2


def _per_row_mean(tokens_per_s: np.ndarray | None, rate: np.ndarray, default: float) -> np.ndarray:
    if tokens_per_s is None:
        return np.full(rate.size, default)
    mean = tokens_per_s / rate
    return np.where(np.isfinite(mean) & (mean > 0), mean, default)


def _lognormal_tokens(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    mu = np.log(mean) - TOKEN_SIGMA**2 / 2  # so the lognormal's mean is `mean`
    tokens = rng.lognormal(mu, TOKEN_SIGMA)
    return np.clip(np.rint(tokens), 1, MAX_TOKENS).astype(np.int32)
