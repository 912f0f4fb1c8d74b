"""The Azure 2024 week-long code trace as digitised from its published plots.

Files `t,env_low,env_high,mid` with per-minute values (use `mid`): requests per minute in
one file (~7.2 min per row), input tokens per minute in another (~20 min per row). Turned
into a RateSeries in per-second units on the request file's rows.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from simulations.traces.csv_rows import csv_rows, number, open_trace
from simulations.traces.rate_series import RateSeries
from simulations.traces.request_trace import TraceFormatError

COLUMNS = ("t", "mid")


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    times, values = [], []
    for line, row in csv_rows(path, COLUMNS):
        try:
            times.append(datetime.fromisoformat(row["t"][:26]).timestamp())
        except ValueError:
            raise TraceFormatError(path, line, f"t is not a date-time: {row['t']!r}") from None
        values.append(number(path, line, "mid", row["mid"]))
    if len(times) < 2:
        raise TraceFormatError(path, None, "needs at least two rows")
    t = np.asarray(times)
    if np.any(np.diff(t) <= 0):
        bad = int(np.flatnonzero(np.diff(t) <= 0)[0]) + 3  # header + 1-based + next row
        raise TraceFormatError(path, bad, "t must increase")
    return t, np.asarray(values)


def load_azure2024_digitized(
    requests_csv: str | Path, input_tokens_csv: str | Path | None = None
) -> RateSeries:
    requests_path = open_trace(requests_csv)
    t, per_min = _read(requests_path)
    input_tps = None
    if input_tokens_csv is not None:
        tokens_t, tokens_per_min = _read(open_trace(input_tokens_csv))
        input_tps = np.interp(t, tokens_t, tokens_per_min) / 60.0
    return RateSeries(
        t_s=t - t[0],
        rate_rps=per_min / 60.0,
        input_tokens_per_s=input_tps,
        name="azure2024-code",
        source=str(requests_path),
    )
