"""The Azure 2024 week-long code trace as digitised from its published plots.

Files `t,env_low,env_high,mid` with per-minute values (use `mid`, the centre of the plotted
envelope): requests per minute in one file (~7.2 min per row), input tokens per minute in
another (~20 min per row). Turned into a RateSeries in per-second units on the request
file's rows, t_s relative to its first row.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from simulations.traces.azure import split_timestamp
from simulations.traces.csv_rows import csv_rows, number, open_trace, shown
from simulations.traces.rate_series import RateSeries
from simulations.traces.request_trace import TraceFormatError

COLUMNS = ("t", "mid")
# The release digitises requests and input tokens into two sibling files.
AZURE2024_REQUESTS = "requests_per_min"
AZURE2024_TOKENS = "input_tokens_per_min"


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(whole POSIX seconds, fractions, mid per minute), t strictly increasing."""
    wholes: list[int] = []
    fractions: list[float] = []
    times: list[float] = []
    values: list[float] = []
    line = 1
    for line, row in csv_rows(path, COLUMNS):  # `line` outlives the loop
        try:
            whole, fraction = split_timestamp(row["t"])
        except ValueError:
            raise TraceFormatError(path, line, f"t is not a date-time: {shown(row['t'])}") from None
        # A float of ~1.7e9 s keeps ~0.2 us: plenty to check the order of rows minutes
        # apart; the returned parts keep full precision for the relative times.
        t = whole + fraction
        if times and t <= times[-1]:
            raise TraceFormatError(path, line, f"t must increase: {shown(row['t'])}")
        times.append(t)
        wholes.append(whole)
        fractions.append(fraction)
        values.append(number(path, line, "mid", row["mid"]))
    if len(times) < 2:
        # One row has no step, so neither its duration nor an interpolation is defined.
        raise TraceFormatError(path, line + 1, "needs at least two data rows")
    return np.asarray(wholes, dtype=np.int64), np.asarray(fractions), np.asarray(values)


def load_azure2024_digitized(
    requests_csv: str | Path, input_tokens_csv: str | Path | None = None
) -> RateSeries:
    """Request rate (and, if given, input token rate) per second on the request rows.

    The token file is coarser, so it is linearly interpolated onto the request rows' times
    (held flat beyond its ends). Both files are per minute; the series is per second.
    """
    requests_path = open_trace(requests_csv)
    whole, fraction, per_min = _read(requests_path)
    origin = int(whole[0])

    def since_origin(w: np.ndarray, f: np.ndarray) -> np.ndarray:
        # Integer seconds first (exact), then the fractions: see split_timestamp.
        return (w - origin).astype(np.float64) + f

    t = since_origin(whole, fraction)
    input_tps = None
    if input_tokens_csv is not None:
        tokens_whole, tokens_fraction, tokens_per_min = _read(open_trace(input_tokens_csv))
        tokens_t = since_origin(tokens_whole, tokens_fraction)
        input_tps = np.interp(t, tokens_t, tokens_per_min) / 60.0
    return RateSeries(
        t_s=t - t[0],
        rate_rps=per_min / 60.0,
        input_tokens_per_s=input_tps,
        name="azure2024-code",
        source=str(requests_path),
    )


def load_azure2024(requests_csv: str | Path) -> RateSeries:
    """The digitised requests file, with the input-token file beside it when there is one
    (`..._requests_per_min_...` -> `..._input_tokens_per_min_...`): prompt lengths then
    follow the published token rate instead of the 2,048-token default."""
    requests_csv = Path(requests_csv)
    if AZURE2024_TOKENS in requests_csv.name:
        raise TraceFormatError(
            requests_csv, None, f"this is the input-token file; pass the *{AZURE2024_REQUESTS}* one"
        )
    tokens_csv = requests_csv.with_name(
        requests_csv.name.replace(AZURE2024_REQUESTS, AZURE2024_TOKENS)
    )
    if AZURE2024_REQUESTS not in requests_csv.name or not tokens_csv.is_file():
        return load_azure2024_digitized(requests_csv)
    series = load_azure2024_digitized(requests_csv, tokens_csv)
    return replace(series, source=f"{series.source} + {tokens_csv}")  # say what was read
