"""Azure LLM inference traces (Splitwise, 2023): `TIMESTAMP,ContextTokens,GeneratedTokens`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from simulations.traces.csv_rows import csv_rows, number, open_trace
from simulations.traces.request_trace import RequestTrace, TraceFormatError

COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def parse_timestamp(path: Path, line: int, text: str) -> float:
    """`2023-11-16 18:17:03.9799600` has 7 fractional digits; Python parses at most 6."""
    head, _, frac = text.partition(".")
    try:
        whole = datetime.fromisoformat(head)
        fraction = float(f"0.{frac}") if frac else 0.0
    except ValueError:
        raise TraceFormatError(path, line, f"TIMESTAMP is not a date-time: {text!r}") from None
    return whole.timestamp() + fraction


def load_azure(path: str | Path) -> RequestTrace:
    path = open_trace(path)
    times, prompts, outputs = [], [], []
    for line, row in csv_rows(path, COLUMNS):
        times.append(parse_timestamp(path, line, row["TIMESTAMP"]))
        prompts.append(number(path, line, "ContextTokens", row["ContextTokens"]))
        outputs.append(number(path, line, "GeneratedTokens", row["GeneratedTokens"]))
    if not times:
        raise TraceFormatError(path, 2, "no requests after the header")
    arrival = np.asarray(times)
    order = np.argsort(arrival, kind="stable")
    arrival = arrival[order] - arrival[order[0]]
    return RequestTrace(
        name=path.stem,
        arrival_s=arrival,
        prompt_tokens=np.asarray(prompts, dtype=np.int32)[order],
        # A request that generated nothing still occupied a decode step.
        output_tokens=np.maximum(np.asarray(outputs, dtype=np.int32)[order], 1),
        source=str(path),
    )
