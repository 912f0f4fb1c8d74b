"""Mooncake (Kimi) JSONL traces: `{timestamp (ms), input_length, output_length, hash_ids}`."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

from simulations.traces.csv_rows import count, open_trace, shown
from simulations.traces.request_trace import RequestTrace, TraceFormatError
from simulations.traces.span import MAX_TIME_S

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
    for line, text in _lines(path):
        if not text.strip():
            continue
        record = _record(path, line, text)
        times.append(_stamp_s(path, line, record["timestamp"]))
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


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text); a line that is not UTF-8 (binary, UTF-16) is a
    TraceFormatError naming it. Decoded line by line: a text-mode file decodes ahead in
    blocks and would blame the block's first line."""
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            try:
                # utf-8-sig: a BOM some editors write is not part of the first record.
                yield line, raw.decode("utf-8-sig" if line == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise TraceFormatError(
                    path, line, f"not UTF-8 text ({exc.reason}): JSON Lines are UTF-8"
                ) from None


def _stamp_s(path: Path, line: int, stamp: object) -> float:
    """The timestamp in seconds: milliseconds in [0, MAX_TIME_S x 1000]. An int is compared
    before it is divided: a 400-digit one would overflow the float."""
    limit_ms = MAX_TIME_S * 1000
    if (
        isinstance(stamp, bool)
        or not isinstance(stamp, int | float)
        or (isinstance(stamp, float) and not math.isfinite(stamp))
        or not 0 <= stamp <= limit_ms
    ):
        raise TraceFormatError(
            path, line, f"timestamp must be milliseconds in [0, {limit_ms:g}], got {shown(stamp)}"
        )
    return stamp / 1000.0


def _record(path: Path, line: int, text: str) -> dict:
    """One JSON object with the required fields, or TraceFormatError naming the line."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceFormatError(path, line, f"not valid JSON: {exc.msg}") from None
    except RecursionError:  # json nests by recursion: [[[[... a few thousand deep
        raise TraceFormatError(path, line, "not valid JSON: nested too deeply") from None
    except ValueError:  # an integer past Python's 4,300-digit conversion limit
        raise TraceFormatError(path, line, "a number of over 4,300 digits") from None
    if not isinstance(record, dict):
        raise TraceFormatError(path, line, "expected a JSON object per line")
    missing = [name for name in FIELDS if name not in record]
    if missing:
        raise TraceFormatError(path, line, f"missing field(s) {', '.join(missing)}")
    return record
