"""Rate files read as demand to forecast: rates as they are, no synthetic arrivals.

What is forecast is **tokens per second, prompt + generation**, because that is what the
planner divides by a replica's capacity. A file without token information (the Azure 2024
requests file, a rate series without token columns) gives requests/s instead and says so in
the note; quantity="requests" asks for requests/s everywhere.

- `rate` (`t_s,rate_rps[,input_tokens_per_s,output_tokens_per_s]`): the token columns'
  sum, else rate_rps.
- `servegen`: est_input + est_output tokens/s of the covered clients, requests = rate_rps;
  rows with active_clients = 0 are collection gaps and become NaN (see servegen.py).
- `azure2024` (digitized `t,env_low,env_high,mid`, ~7.2 min per row): `mid` per minute / 60.
  Requests/s for the requests file; a file whose name mentions tokens is input tokens/s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulations.traces.azure2024 import load_azure2024_digitized
from simulations.traces.rate_series import load_rate_series
from simulations.traces.servegen import read_servegen

QUANTITIES = ("tokens", "requests")


@dataclass(frozen=True)
class DemandRates:
    """Row i holds `values[i]` (per second, NaN = a gap) from t_s[i] until the next row."""

    t_s: np.ndarray
    values: np.ndarray
    unit: str  # "tokens/s" or "requests/s"
    note: str
    name: str


def check_quantity(quantity: str) -> None:
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; choose from {', '.join(QUANTITIES)}")


def servegen_demand(path: str | Path, quantity: str) -> DemandRates:
    rows = read_servegen(path)
    if quantity == "tokens":
        values = rows.input_tokens_per_s_covered + rows.output_tokens_per_s_covered
        unit, note = "tokens/s", "tokens of the covered clients (est_input + est_output)"
    else:
        values, unit, note = rows.rate_rps, "requests/s", ""
    values = np.where(rows.gap, np.nan, values)  # a collection gap, see servegen.py
    return DemandRates(rows.t_s, values, unit, note, rows.path.stem)


def rate_demand(path: str | Path, quantity: str) -> DemandRates:
    series = load_rate_series(path)
    tokens = [
        part for part in (series.input_tokens_per_s, series.output_tokens_per_s) if part is not None
    ]
    if quantity == "tokens" and tokens:
        return DemandRates(series.t_s, np.sum(tokens, axis=0), "tokens/s", "", series.name)
    note = "" if quantity == "requests" else "no token columns: forecasting requests/s"
    return DemandRates(series.t_s, series.rate_rps, "requests/s", note, series.name)


def azure2024_demand(path: str | Path, quantity: str) -> DemandRates:
    """One digitised file as it is (the token file beside a requests file is not read:
    its input tokens are not the prompt + generation the planner plans on)."""
    series = load_azure2024_digitized(path)
    if "token" in Path(path).name.lower():
        # The digitised input-token file has the same columns as the requests file.
        return DemandRates(
            series.t_s,
            series.rate_rps,
            "tokens/s",
            "input tokens only (digitised)",
            Path(path).stem,
        )
    note = "" if quantity == "requests" else "no token columns: forecasting requests/s"
    return DemandRates(series.t_s, series.rate_rps, "requests/s", note, series.name)
