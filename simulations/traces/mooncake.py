"""Mooncake (Kimi) JSONL traces: `{timestamp (ms), input_length, output_length, hash_ids}`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from simulations.traces.csv_rows import open_trace
from simulations.traces.request_trace import RequestTrace, TraceFormatError

FIELDS = ("timestamp", "input_length", "output_length")


def load_mooncake(path: str | Path) -> RequestTrace:
    path = open_trace(path)
    times, prompts, outputs = [], [], []
    blocks_seen: set[int] = set()
    blocks_total = blocks_reused = 0
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TraceFormatError(path, line, f"not valid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise TraceFormatError(path, line, "expected a JSON object per line")
            missing = [name for name in FIELDS if name not in record]
            if missing:
                raise TraceFormatError(path, line, f"missing field(s) {', '.join(missing)}")
            for name in FIELDS:
                value = record[name]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise TraceFormatError(
                        path, line, f"{name} must be a number >= 0, got {value!r}"
                    )
            times.append(record["timestamp"] / 1000.0)
            prompts.append(record["input_length"])
            outputs.append(record["output_length"])
            for block in record.get("hash_ids") or ():
                blocks_total += 1
                if block in blocks_seen:
                    blocks_reused += 1
                else:
                    blocks_seen.add(block)
    if not times:
        raise TraceFormatError(path, None, "no requests in the file")
    arrival = np.asarray(times, dtype=np.float64)
    order = np.argsort(arrival, kind="stable")
    meta = {"prefix_block_reuse": round(blocks_reused / blocks_total, 4)} if blocks_total else {}
    return RequestTrace(
        name=path.stem,
        arrival_s=arrival[order] - arrival[order[0]],
        prompt_tokens=np.asarray(prompts, dtype=np.int32)[order],
        output_tokens=np.maximum(np.asarray(outputs, dtype=np.int32)[order], 1),
        source=str(path),
        meta=meta,
    )
