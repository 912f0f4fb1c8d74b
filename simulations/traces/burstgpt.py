"""BurstGPT CSV: `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`.

Timestamps are seconds (float) from the trace start. BurstGPT marks a failed request with
0 response tokens. Those are kept, with 1 output token: the request still arrived, still
queued and still cost a prefill, which is exactly the load an autoscaler must absorb;
dropping them would understate the bursts the trace is named for. meta["failed_requests"]
counts them so a report can say how many there were.
"""

from __future__ import annotations

from pathlib import Path

from simulations.traces.csv_rows import count, csv_rows, number, open_trace
from simulations.traces.request_trace import RequestTrace, TraceFormatError
from simulations.traces.span import MAX_TIME_S

# Total tokens and Log Type are not needed, so a file without them still loads.
COLUMNS = ("Timestamp", "Model", "Request tokens", "Response tokens")


def load_burstgpt(path: str | Path, model: str | None = None) -> RequestTrace:
    """Requests sorted (stably) by time, arrivals relative to the earliest kept row.

    `model` keeps only rows whose Model equals it (e.g. "ChatGPT" or "GPT-4"); other rows
    are skipped without being validated, as they are not part of the trace asked for.
    """
    path = open_trace(path)
    times: list[float] = []
    prompts: list[int] = []
    outputs: list[int] = []
    failed = 0
    for line, row in csv_rows(path, COLUMNS):
        if model is not None and row["Model"] != model:
            continue
        times.append(number(path, line, "Timestamp", row["Timestamp"], maximum=MAX_TIME_S))
        prompts.append(count(path, line, "Request tokens", row["Request tokens"]))
        response = count(path, line, "Response tokens", row["Response tokens"])
        failed += response == 0
        outputs.append(max(response, 1))
    if not times:
        which = f" for model {model!r}" if model is not None else ""
        raise TraceFormatError(path, 2, f"no requests after the header{which}")
    meta = {"failed_requests": int(failed), **({"model": model} if model is not None else {})}
    return RequestTrace.from_unsorted(path.stem, times, prompts, outputs, str(path), meta)
