"""Files -> DemandSeries: a `t_s,value` CSV, rate CSVs (ServeGen, Azure 2024, plain), traces.

What is forecast: **tokens per second, prompt + generation**, because that is what the
planner divides by a replica's capacity. Sources without token information (the Azure 2024
requests file, a rate series without token columns) give requests/s instead and say so in
`DemandSeries.note`; `quantity="requests"` asks for requests/s everywhere.

- `t_s,value` CSV: row i holds `value` from t_s[i] until the next row, as a rate. A pause
  longer than 1.5x the median spacing is a gap (the row lasts the median spacing), so a
  missing row shows as NaN rather than as the previous value stretched. An empty `value`
  cell is a gap too.
- ServeGen `aggregate_*.csv` (one row per 600 s): tokens = est_input_tok_per_s_covered +
  est_output_tok_per_s_covered (the clients whose request lengths ServeGen observed, ~45 %
  of requests: the scale is theirs, the shape is the model's), requests = rate_rps. Rows
  with active_clients = 0 are collection gaps (the service never has zero clients for
  10 minutes between two minutes with 20) and become NaN.
- Azure 2024 digitized (`t,env_low,env_high,mid`, ~7.2 min per row): `mid` per minute / 60.
  Requests/s for the requests file; a file whose name mentions tokens is input tokens/s.
- Request traces (azure, mooncake, burstgpt): each request's prompt + output tokens are
  counted in the bucket it arrived in (generation is spread over the decode time in reality;
  at 60 s buckets and outputs of a few seconds that shift is small).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from autoscaler.backtest.series import DemandSeries, from_events, from_segments, median_step_s
from simulations.traces.csv_rows import csv_rows, number, open_trace
from simulations.traces.request_trace import TraceFormatError
from simulations.traces.span import MAX_TIME_S, idle_cut_s, idle_note, trimmed_note

TRACE_DEFAULT_BUCKET_S = 60.0
GAP_FACTOR = 1.5  # a pause longer than this many median steps is a gap, not a long row
QUANTITIES = ("tokens", "requests")
RATE_FORMATS = ("rate", "servegen", "azure2024")
REQUEST_FORMATS = ("azure", "mooncake", "burstgpt")
FORMATS = REQUEST_FORMATS + RATE_FORMATS


def _check_quantity(quantity: str) -> None:
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; choose from {', '.join(QUANTITIES)}")


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
    path: str | Path, fmt: str, quantity: str = "tokens", bucket_s: float | None = None
) -> DemandSeries:
    """A rate CSV read as rates (no synthetic arrivals, so no Poisson noise is added)."""
    _check_quantity(quantity)
    if fmt == "servegen":
        t_s, rates, unit, note, name = _servegen(open_trace(path), quantity)
    elif fmt in ("rate", "azure2024"):
        t_s, rates, unit, note, name = _rate_series(path, fmt, quantity)
    else:
        raise ValueError(f"not a rate format: {fmt!r}; choose from {', '.join(RATE_FORMATS)}")
    step_s = median_step_s(t_s)
    durations = np.append(np.diff(t_s), step_s)
    return from_segments(
        t_s, durations, rates, bucket_s or step_s,
        unit=unit, name=name, source=str(path), note=note,
    )  # fmt: skip


def load_request_trace(
    path: str | Path, fmt: str, quantity: str = "tokens", bucket_s: float | None = None
) -> DemandSeries:
    """Tokens (or requests) arriving per bucket of a request-level trace."""
    from simulations.traces.loader import load_trace

    _check_quantity(quantity)
    if fmt not in REQUEST_FORMATS:
        raise ValueError(f"not a request format: {fmt!r}; choose from {', '.join(FORMATS)}")
    trace = load_trace(path, fmt)
    width_s = bucket_s or TRACE_DEFAULT_BUCKET_S
    if quantity == "tokens":
        weights = trace.prompt_tokens.astype(np.float64) + trace.output_tokens
        unit = "tokens/s"
    else:
        weights = np.ones(trace.n_requests)
        unit = "requests/s"
    return from_events(
        trace.arrival_s, weights, width_s, unit=unit, name=trace.name, source=str(path),
        note=trimmed_note(trace),  # load_trace shortens idle gaps of over a week
    )  # fmt: skip


def load_file(
    path: str | Path, fmt: str, quantity: str = "tokens", bucket_s: float | None = None
) -> DemandSeries:
    """Any `--trace` format: request traces and rate CSVs."""
    if fmt in REQUEST_FORMATS:
        return load_request_trace(path, fmt, quantity, bucket_s)
    if fmt in RATE_FORMATS:
        return load_rate_file(path, fmt, quantity, bucket_s)
    raise ValueError(f"unknown --format {fmt!r}; choose from {', '.join(FORMATS)}")


_SERVEGEN = (
    "t_s",
    "rate_rps",
    "active_clients",
    "est_input_tok_per_s_covered",
    "est_output_tok_per_s_covered",
)


def _servegen(path: Path, quantity: str) -> tuple[np.ndarray, np.ndarray, str, str, str]:
    times: list[float] = []
    rates: list[float] = []
    for line, row in csv_rows(path, _SERVEGEN):
        t = number(path, line, "t_s", row["t_s"], minimum=-MAX_TIME_S, maximum=MAX_TIME_S)
        if times and t <= times[-1]:
            raise TraceFormatError(path, line, f"t_s must increase, {t:g} follows {times[-1]:g}")
        times.append(t)
        if number(path, line, "active_clients", row["active_clients"]) == 0:
            rates.append(math.nan)  # a collection gap, see the module docstring
        elif quantity == "tokens":
            rates.append(
                number(path, line, "est_input_tok_per_s_covered", row[_SERVEGEN[3]])
                + number(path, line, "est_output_tok_per_s_covered", row[_SERVEGEN[4]])
            )
        else:
            rates.append(number(path, line, "rate_rps", row["rate_rps"]))
    if not times:
        raise TraceFormatError(path, 2, "no rows after the header")
    unit = "tokens/s" if quantity == "tokens" else "requests/s"
    note = "tokens of the covered clients (est_input + est_output)" if quantity == "tokens" else ""
    return np.asarray(times), np.asarray(rates), unit, note, path.stem


def _rate_series(
    path: str | Path, fmt: str, quantity: str
) -> tuple[np.ndarray, np.ndarray, str, str, str]:
    from simulations.traces.azure2024 import load_azure2024_digitized
    from simulations.traces.rate_series import load_rate_series

    series = load_rate_series(path) if fmt == "rate" else load_azure2024_digitized(path)
    if fmt == "azure2024" and "token" in Path(path).name.lower():
        # The digitised input-token file has the same columns as the requests file.
        return (
            series.t_s,
            series.rate_rps,
            "tokens/s",
            "input tokens only (digitised)",
            Path(path).stem,
        )
    tokens = [
        part for part in (series.input_tokens_per_s, series.output_tokens_per_s) if part is not None
    ]
    if quantity == "tokens" and tokens:
        return series.t_s, np.sum(tokens, axis=0), "tokens/s", "", series.name
    note = "" if quantity == "requests" else "no token columns: forecasting requests/s"
    return series.t_s, series.rate_rps, "requests/s", note, series.name
