"""Files -> DemandSeries: a `t_s,value` CSV, and every trace format (simulations.traces.formats).

What is forecast: **tokens per second, prompt + generation**, because that is what the
planner divides by a replica's capacity. Rate files are read as rates by their format's
`read_demand` (simulations.traces.rate_demand: which columns, what is a gap, when requests/s
stand in for tokens and the note that says so); `quantity="requests"` asks for requests/s
everywhere.

- `t_s,value` CSV: row i holds `value` from t_s[i] until the next row, as a rate. A pause
  longer than 1.5x the median spacing is a gap (the row lasts the median spacing), so a
  missing row shows as NaN rather than as the previous value stretched. An empty `value`
  cell is a gap too.
- Request traces (azure, mooncake, burstgpt): each request's prompt + output tokens are
  counted in the bucket it arrived in (generation is spread over the decode time in reality;
  at 60 s buckets and outputs of a few seconds that shift is small).

(This module reads simulations' trace formats: an autoscaler -> simulations edge that goes
when the backtest moves to simulations/, issue 19.)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from autoscaler.backtest.series import DemandSeries, from_events, from_segments, median_step_s
from simulations.traces.csv_rows import csv_rows, number, open_trace
from simulations.traces.formats import FORMAT_NAMES, RATE_FORMATS, trace_format
from simulations.traces.loader import load_trace
from simulations.traces.rate_demand import QUANTITIES, check_quantity
from simulations.traces.request_trace import TraceFormatError
from simulations.traces.scale import UNSCALED, TraceScale, scaled_demand
from simulations.traces.span import MAX_TIME_S, idle_cut_s, idle_note, trimmed_note
from simulations.traces.window import WHOLE, TraceWindow, window_note, windowed_demand

__all__ = [
    "FORMAT_NAMES",
    "QUANTITIES",
    "load_file",
    "load_rate_file",
    "load_request_trace",
    "load_value_csv",
]

TRACE_DEFAULT_BUCKET_S = 60.0
GAP_FACTOR = 1.5  # a pause longer than this many median steps is a gap, not a long row


def load_value_csv(path: str | Path, bucket_s: float | None = None) -> DemandSeries:
    """`t_s,value` rows (value in tokens/s) onto buckets of `bucket_s` (default: the
    median spacing). Malformed rows raise TraceFormatError naming file and line."""
    path = open_trace(path)
    times: list[float] = []
    values: list[float] = []
    for line, row in csv_rows(path, ("t_s", "value")):
        t = number(path, line, "t_s", row["t_s"], minimum=-MAX_TIME_S, maximum=MAX_TIME_S)
        if times and t <= times[-1]:
            raise TraceFormatError(path, line, f"t_s must increase, {t:g} follows {times[-1]:g}")
        times.append(t)
        cell = row["value"]
        values.append(math.nan if cell == "" else number(path, line, "value", cell))
    if not times:
        raise TraceFormatError(path, 2, "no rows after the header")
    t_s = np.asarray(times)
    step_s = median_step_s(t_s)
    durations = np.append(np.diff(t_s), step_s)
    durations = np.where(durations > GAP_FACTOR * step_s, step_s, durations)
    # The silence after each row's last step: over a week of it is a collection break,
    # shortened (whole days) so that its buckets are not all kept as NaN.
    cut = idle_cut_s(np.append(np.diff(t_s), 0.0) - durations)
    t_s = t_s - np.concatenate([[0.0], np.cumsum(cut[:-1])])
    return from_segments(
        t_s, durations, np.asarray(values), bucket_s or step_s,
        unit="tokens/s", name=path.stem, source=str(path),
        note=idle_note(int(np.count_nonzero(cut)), float(cut.sum())),
    )  # fmt: skip


def load_rate_file(
    path: str | Path,
    fmt: str,
    quantity: str = "tokens",
    bucket_s: float | None = None,
    scale: TraceScale = UNSCALED,
    window: TraceWindow = WHOLE,
) -> DemandSeries:
    """A rate CSV read as rates (no synthetic arrivals, so no Poisson noise is added),
    cut and scaled as a replay of it would be (`window.windowed_demand`,
    `scale.scaled_demand`)."""
    check_quantity(quantity)
    spec = trace_format(fmt)
    if spec.read_demand is None:
        raise ValueError(f"not a rate format: {fmt!r}; choose from {', '.join(RATE_FORMATS)}")
    rates = spec.read_demand(path, quantity)
    rates = scaled_demand(windowed_demand(rates, window, str(path)), scale)
    step_s = median_step_s(rates.t_s)
    durations = np.append(np.diff(rates.t_s), step_s)
    return from_segments(
        rates.t_s, durations, rates.values, bucket_s or step_s,
        unit=rates.unit, name=rates.name, source=str(path), note=rates.note,
    )  # fmt: skip


def load_request_trace(
    path: str | Path,
    fmt: str,
    quantity: str = "tokens",
    bucket_s: float | None = None,
    scale: TraceScale = UNSCALED,
    window: TraceWindow = WHOLE,
) -> DemandSeries:
    """Tokens (or requests) arriving per bucket of a request-level trace (its lengths
    scaled by `scale.length`; a list has no rate to scale), the window's requests only."""
    check_quantity(quantity)
    if trace_format(fmt).read_requests is None:
        raise ValueError(f"not a request format: {fmt!r}; choose from {', '.join(FORMAT_NAMES)}")
    trace = load_trace(path, fmt, scale=scale, window=window)
    width_s = bucket_s or TRACE_DEFAULT_BUCKET_S
    if quantity == "tokens":
        weights = trace.prompt_tokens.astype(np.float64) + trace.output_tokens
        unit = "tokens/s"
    else:
        weights = np.ones(trace.n_requests)
        unit = "requests/s"
    return from_events(
        trace.arrival_s, weights, width_s, unit=unit, name=trace.name, source=str(path),
        # load_trace cuts the window and shortens idle gaps of over a week: say both
        note="; ".join(filter(None, (window_note(window, "requests"), trimmed_note(trace)))),
    )  # fmt: skip


def load_file(
    path: str | Path,
    fmt: str,
    quantity: str = "tokens",
    bucket_s: float | None = None,
    scale: TraceScale = UNSCALED,
    window: TraceWindow = WHOLE,
) -> DemandSeries:
    """Any `--trace` format: request traces and rate CSVs."""
    if trace_format(fmt).is_rate_series:
        return load_rate_file(path, fmt, quantity, bucket_s, scale, window)
    return load_request_trace(path, fmt, quantity, bucket_s, scale, window)
