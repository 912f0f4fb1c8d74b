"""Reading trace rows with the exact 1-based line numbers that error messages need."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

from simulations.traces.request_trace import TraceFormatError

# Token counts are stored as int32; anything larger is a corrupt row, not a real request.
MAX_INT32 = 2**31 - 1


def open_trace(path: str | Path) -> Path:
    """The trace's Path, or FileNotFoundError naming it (not a TraceFormatError: nothing was
    read, and callers such as the CLI report the two differently)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    if path.is_dir():
        raise TraceFormatError(path, None, "is a directory, not a trace file")
    return path


def csv_rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yields (1-based line number, row) after checking the header names `required` columns.

    Blank lines are skipped (editors add trailing ones) but still counted, so the numbers
    match what `sed -n Np` shows. Unknown extra columns are allowed and passed through.
    """
    # utf-8-sig: spreadsheets often save a BOM, which would otherwise glue itself to the
    # first column's name and make a correct header look wrong.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise TraceFormatError(path, 1, "file is empty (expected a CSV header)") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise TraceFormatError(path, 1, f"unreadable header: {exc}") from None
        missing = [name for name in required if name not in header]
        if missing:
            raise TraceFormatError(
                path,
                1,
                f"header lacks column(s) {', '.join(missing)}; found {', '.join(header)}",
            )
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                line = reader.line_num + 1
                raise TraceFormatError(path, line, f"unreadable row: {exc}") from None
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise TraceFormatError(
                    path, line, f"expected {len(header)} columns, found {len(row)}"
                )
            yield line, dict(zip(header, (cell.strip() for cell in row), strict=True))


def number(
    path: Path,
    line: int,
    column: str,
    text: str,
    *,
    minimum: float = 0.0,
    maximum: float = math.inf,
) -> float:
    """A finite float in [minimum, maximum], or TraceFormatError naming the cell."""
    try:
        value = float(text)
    except ValueError:
        raise TraceFormatError(path, line, f"{column} is not a number: {shown(text)}") from None
    # float() accepts "nan" and "inf"; either would poison every later sum (an infinite
    # rate asks for infinitely many requests), so they are malformed here.
    if not math.isfinite(value):
        raise TraceFormatError(path, line, f"{column} must be finite, got {shown(text)}")
    if value < minimum:
        raise TraceFormatError(path, line, f"{column} must be >= {minimum:g}, got {shown(text)}")
    if value > maximum:
        raise TraceFormatError(path, line, f"{column} must be <= {maximum:g}, got {shown(text)}")
    return value


def shown(value: object, limit: int = 40) -> str:
    """`repr(value)`, cut to `limit` characters: a 5,000-digit cell is quoted, not pasted."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300-digit conversion limit
        return "a number of over 4,300 digits"
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text):,} characters)"


def count(path: Path, line: int, column: str, value: object) -> int:
    """A token count: a whole number in [0, 2**31 - 1]. Accepts "12", "12.0" and JSON 12."""
    if isinstance(value, bool):  # JSON true is an int to Python, never a token count
        raise TraceFormatError(path, line, f"{column} must be a whole number, got {shown(value)}")
    if isinstance(value, str):
        value = number(path, line, column, value)
    if isinstance(value, int):  # compared as an int: a 400-digit JSON int overflows a float
        if 0 <= value <= MAX_INT32:
            return value
        raise TraceFormatError(
            path, line, f"{column} must be a whole number in [0, {MAX_INT32}], got {shown(value)}"
        )
    if not isinstance(value, float) or not math.isfinite(value):
        raise TraceFormatError(path, line, f"{column} must be a whole number, got {shown(value)}")
    if value < 0:
        raise TraceFormatError(path, line, f"{column} must be >= 0, got {shown(value)}")
    if value != int(value) or value > MAX_INT32:
        raise TraceFormatError(
            path, line, f"{column} must be a whole number <= {MAX_INT32}, got {shown(value)}"
        )
    return int(value)
