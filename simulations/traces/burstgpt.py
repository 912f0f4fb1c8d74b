"""BurstGPT CSV: `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`.

Timestamps are seconds from the trace start. Failed requests carry 0 response tokens; they
still arrived and still cost a prefill, so they are kept with one output token.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulations.traces.csv_rows import csv_rows, number, open_trace
from simulations.traces.request_trace import RequestTrace, TraceFormatError

COLUMNS = ("Timestamp", "Model", "Request tokens", "Response tokens")


def load_burstgpt(path: str | Path, model: str | None = None) -> RequestTrace:
    path = open_trace(path)
    times, prompts, outputs = [], [], []
    failed = 0
    for line, row in csv_rows(path, COLUMNS):
        if model is not None and row["Model"] != model:
            continue
        times.append(number(path, line, "Timestamp", row["Timestamp"]))
        prompts.append(number(path, line, "Request tokens", row["Request tokens"]))
        response = number(path, line, "Response tokens", row["Response tokens"])
        failed += response == 0
        outputs.append(max(response, 1.0))
    if not times:
        which = f" for model {model!r}" if model else ""
        raise TraceFormatError(path, None, f"no requests{which}")
    arrival = np.asarray(times)
    order = np.argsort(arrival, kind="stable")
    return RequestTrace(
        name=path.stem,
        arrival_s=arrival[order] - arrival[order[0]],
        prompt_tokens=np.asarray(prompts, dtype=np.int32)[order],
        output_tokens=np.asarray(outputs, dtype=np.int32)[order],
        source=str(path),
        meta={"failed_requests": int(failed), **({"model": model} if model else {})},
    )
