"""Azure LLM inference traces (Splitwise, 2023): `TIMESTAMP,ContextTokens,GeneratedTokens`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from simulations.traces.csv_rows import count, csv_rows, open_trace, shown
from simulations.traces.request_trace import RequestTrace, TraceFormatError

COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def split_timestamp(text: str) -> tuple[int, float]:
    """`2023-11-16 18:17:03.9799600` -> (whole POSIX seconds, fraction of a second).

    The Azure files carry 7 fractional digits (the digitised 2024 ones 9) and Python's
    datetime stops at 6, so the fraction is parsed separately. Keeping the two parts apart
    also keeps 100 ns resolution once the first row is subtracted; a float of ~1.7e9 s
    would round to ~0.2 us. Naive times are read as UTC so a local DST change between two
    rows cannot shift arrivals by an hour. Raises ValueError if `text` is not a date-time.
    """
    head, dot, fraction = text.strip().partition(".")
    if dot and not (fraction.isascii() and fraction.isdigit()):
        raise ValueError(f"bad fractional seconds in {text!r}")
    moment = datetime.fromisoformat(head)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    whole = moment.timestamp()  # exact: `head` has no sub-second part
    return int(whole), float(f"0.{fraction}") if fraction else 0.0


def load_azure(path: str | Path) -> RequestTrace:
    """Requests with arrivals in seconds since the earliest row, sorted (stably) by time.

    A row with 0 GeneratedTokens is kept with 1 output token: the request arrived and was
    prefilled, and the simulator needs at least one decode step to finish it.
    """
    path = open_trace(path)
    seconds: list[int] = []
    fractions: list[float] = []
    prompts: list[int] = []
    outputs: list[int] = []
    for line, row in csv_rows(path, COLUMNS):
        try:
            whole, fraction = split_timestamp(row["TIMESTAMP"])
        except ValueError:
            raise TraceFormatError(
                path, line, f"TIMESTAMP is not a date-time: {shown(row['TIMESTAMP'])}"
            ) from None
        seconds.append(whole)
        fractions.append(fraction)
        prompts.append(count(path, line, "ContextTokens", row["ContextTokens"]))
        outputs.append(count(path, line, "GeneratedTokens", row["GeneratedTokens"]))
    if not seconds:
        raise TraceFormatError(path, 2, "no requests after the header")
    whole_s = np.asarray(seconds, dtype=np.int64)
    # Integer part first (exact), then the sub-second part: see split_timestamp.
    arrival = (whole_s - whole_s.min()).astype(np.float64) + np.asarray(fractions)
    return RequestTrace.from_unsorted(path.stem, arrival, prompts, outputs, str(path))
