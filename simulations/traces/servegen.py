"""ServeGen `aggregate_*.csv`: one row per window (600 s) of a model's whole service.

Columns read: t_s, rate_rps (every request), active_clients, est_input_tok_per_s_covered and
est_output_tok_per_s_covered (the tokens of the "covered" clients, those whose request
lengths ServeGen observed, ~45 % of m-small's requests) and, when present, covered_rate_rps
(those clients' request rate). Rows with active_clients = 0 are collection gaps: the service
never has zero clients for 10 minutes between two minutes with 20.

Two readings of the same rows:
- as a rate series to replay (`servegen_rate_series`): every request (rate_rps), with prompt
  and output lengths the covered clients' means (est_*_covered / covered_rate_rps). Worked
  number: 1,000 req/s with 300 covered req/s sending 60,000 input tok/s -> prompts average
  200 tokens, so 200,000 input tok/s over all requests. A gap is bridged linearly from the
  rows around it (its zeros are a collection artefact, not a quiet service);
- as demand to forecast (`simulations.traces.rate_demand`): the covered tokens/s as they are
  (the scale is theirs, the shape is the model's), requests/s = rate_rps, a gap = NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulations.traces.csv_rows import csv_rows, number, open_trace
from simulations.traces.rate_series import RateSeries
from simulations.traces.request_trace import TraceFormatError
from simulations.traces.span import MAX_TIME_S

COLUMNS = (
    "t_s",
    "rate_rps",
    "active_clients",
    "est_input_tok_per_s_covered",
    "est_output_tok_per_s_covered",
)
COVERED_RATE = "covered_rate_rps"  # optional: without it, lengths are the defaults


@dataclass(frozen=True)
class ServeGenRows:
    """The columns as read, t_s as in the file (not shifted)."""

    path: Path
    t_s: np.ndarray
    rate_rps: np.ndarray
    input_tokens_per_s_covered: np.ndarray
    output_tokens_per_s_covered: np.ndarray
    covered_rate_rps: np.ndarray | None
    gap: np.ndarray  # bool: active_clients == 0


def read_servegen(path: str | Path) -> ServeGenRows:
    """The rows; TraceFormatError names file and line of a malformed one."""
    path = open_trace(path)
    columns: dict[str, list[float]] = {name: [] for name in (*COLUMNS, COVERED_RATE)}
    for line, row in csv_rows(path, COLUMNS):
        t = number(path, line, "t_s", row["t_s"], minimum=-MAX_TIME_S, maximum=MAX_TIME_S)
        if columns["t_s"] and t <= columns["t_s"][-1]:
            raise TraceFormatError(
                path, line, f"t_s must increase, {t:g} follows {columns['t_s'][-1]:g}"
            )
        columns["t_s"].append(t)
        for name in (*COLUMNS[1:], COVERED_RATE):
            if name in row:
                columns[name].append(number(path, line, name, row[name]))
    if not columns["t_s"]:
        raise TraceFormatError(path, 2, "no rows after the header")
    covered = columns[COVERED_RATE]
    return ServeGenRows(
        path=path,
        t_s=np.asarray(columns["t_s"]),
        rate_rps=np.asarray(columns["rate_rps"]),
        input_tokens_per_s_covered=np.asarray(columns[COLUMNS[3]]),
        output_tokens_per_s_covered=np.asarray(columns[COLUMNS[4]]),
        covered_rate_rps=np.asarray(covered) if covered else None,
        gap=np.asarray(columns["active_clients"]) == 0,
    )


def servegen_rate_series(path: str | Path) -> RateSeries:
    """Every request's rate with the covered clients' mean lengths (see the module
    docstring); meta counts the gap rows bridged."""
    rows = read_servegen(path)
    rate = _bridge(rows.t_s, rows.rate_rps, rows.gap)
    input_tps = output_tps = None
    if rows.covered_rate_rps is not None:
        covered = rows.covered_rate_rps
        tokens = []
        for per_s in (rows.input_tokens_per_s_covered, rows.output_tokens_per_s_covered):
            # Mean tokens per covered request; rows with no covered request take the
            # file's mean rather than the generic defaults.
            overall = float(per_s.sum() / covered.sum()) if covered.sum() > 0 else 0.0
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = np.where(covered > 0, per_s / covered, overall)
            tokens.append(_bridge(rows.t_s, rate * mean, rows.gap))
        input_tps, output_tps = tokens
    gaps = int(np.count_nonzero(rows.gap))
    return RateSeries(
        t_s=rows.t_s - rows.t_s[0],
        rate_rps=rate,
        input_tokens_per_s=input_tps,
        output_tokens_per_s=output_tps,
        name=rows.path.stem,
        source=str(rows.path),
        meta={"collection_gaps_bridged": gaps} if gaps else {},
        gap=rows.gap,
    )


def _bridge(t_s: np.ndarray, values: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Gap rows linearly interpolated from the rows around them (held flat past the ends);
    all gaps: zeros, a trace with no requests."""
    if not gap.any() or gap.all():
        return np.where(gap, 0.0, values)
    return np.where(gap, np.interp(t_s, t_s[~gap], values[~gap]), values)
