"""Mooncake (Kimi) JSONL traces: `{timestamp (ms), input_length, output_length, hash_ids}`."""

from __future__ import annotations

import json
import math
from pathlib import Path

from simulations.traces.csv_rows import count, open_trace
from simulations.traces.request_trace import RequestTrace, TraceFormatError

FIELDS = ("timestamp", "input_length", "output_length")


def load_mooncake(path: str | Path) -> RequestTrace:
    """Requests with arrivals in seconds since the earliest record, sorted (stably) by time.

    `hash_ids` name the 512-token prefix blocks of each prompt. The simulator has no prefix
    cache, so only one cheap number is kept: meta["prefix_block_reuse"], the fraction of
    blocks already seen in an earlier record (file order), i.e. what a cache with unlimited
    room could have skipped. An output_length of 0 is kept as 1 token (see load_azure).
    """
    path = open_trace(path)
    times: list[float] = []
    prompts: list[int] = []
    outputs: list[int] = []
    blocks_seen: set[int] = set()
    blocks_total = 0
    with path.open(encoding="utf-8-sig") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            record = _record(path, line, text)
            stamp = record["timestamp"]
            if (
                isinstance(stamp, bool)
                or not isinstance(stamp, int | float)
                or not math.isfinite(stamp)
                or stamp < 0
            ):
                raise TraceFormatError(
                    path, line, f"timestamp must be milliseconds >= 0, got {stamp!r}"
                )
            times.append(stamp / 1000.0)
            prompts.append(count(path, line, "input_length", record["input_length"]))
            outputs.append(count(path, line, "output_length", record["output_length"]))
            hashes = record.get("hash_ids") or []
            if not isinstance(hashes, list) or not all(
                isinstance(block, int) and not isinstance(block, bool) for block in hashes
            ):
                raise TraceFormatError(path, line, "hash_ids must be a list of integers")
            blocks_total += len(hashes)
            blocks_seen.update(hashes)
    if not times:
        raise TraceFormatError(path, 1, "no requests in the file")
    # Every block beyond the first sighting of its id is a reuse.
    reused = blocks_total - len(blocks_seen)
    meta = {"prefix_block_reuse": round(reused / blocks_total, 4)} if blocks_total else {}
    return RequestTrace.from_unsorted(path.stem, times, prompts, outputs, str(path), meta)


def _record(path: Path, line: int, text: str) -> dict:
    """One JSON object with the required fields, or TraceFormatError naming the line."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceFormatError(path, line, f"not valid JSON: {exc.msg}") from None
    if not isinstance(record, dict):
        raise TraceFormatError(path, line, "expected a JSON object per line")
    missing = [name for name in FIELDS if name not in record]
    if missing:
        raise TraceFormatError(path, line, f"missing field(s) {', '.join(missing)}")
    return record
