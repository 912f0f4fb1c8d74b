"""Reading CSV rows with the line numbers that error messages need."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from simulations.traces.request_trace import TraceFormatError


def open_trace(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: trace file not found")
    if path.is_dir():
        raise TraceFormatError(path, None, "is a directory, not a trace file")
    return path


def csv_rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yields (1-based line number, row) after checking the header names `required` columns."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise TraceFormatError(path, 1, "file is empty (expected a CSV header)") from None
        missing = [name for name in required if name not in header]
        if missing:
            raise TraceFormatError(
                path,
                1,
                f"header lacks column(s) {', '.join(missing)}; found {', '.join(header)}",
            )
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise TraceFormatError(
                    path, line, f"expected {len(header)} columns, found {len(row)}"
                )
            yield line, dict(zip(header, (cell.strip() for cell in row), strict=True))


def number(path: Path, line: int, column: str, text: str, *, minimum: float = 0.0) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TraceFormatError(path, line, f"{column} is not a number: {text!r}") from None
    if not value >= minimum:  # also catches NaN
        raise TraceFormatError(path, line, f"{column} must be >= {minimum:g}, got {text!r}")
    return value
