"""What an error may quote of what it was sent: bounded, so the error itself gets through.

gRPC sends a status message as a trailer, percent-encoding every non-ASCII byte (3 wire bytes
each), and clients refuse trailers past 16 kB: the Python client then reports
RESOURCE_EXHAUSTED instead of the server's INVALID_ARGUMENT. An error that quoted a 20 kB
profile name, or listed 500 unknown keys, never reached KEDA's events. Every metadata and
profile error (gRPC and HTTP) is built with these helpers, so none is longer than
`MAX_MESSAGE_CHARS` of ASCII, whatever it was sent.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_QUOTED_CHARS = 64  # of one value: enough to recognise a key or a name
MAX_PROBLEMS = 10  # listed in one message; the rest are counted
MAX_MESSAGE_CHARS = 2000  # far below gRPC's 16 kB even with every character %-encoded


def quoted(value: str, limit_chars: int = MAX_QUOTED_CHARS) -> str:
    """`value` as an ASCII literal (other characters escaped), cut to its first `limit_chars`.

    'modle' -> "'modle'"; 'é' -> "'\\xe9'"; 20,000 x's -> "'xx...x'... (20000 chars)" (64 x's).
    """
    if len(value) <= limit_chars:
        return ascii(value)
    return f"{ascii(value[:limit_chars])}... ({len(value)} chars)"


def listed(items: Sequence[str], limit: int = MAX_PROBLEMS) -> list[str]:
    """The first `limit` items, then "and K more" for the rest: 500 problems -> 11 items."""
    if len(items) <= limit:
        return list(items)
    return [*items[:limit], f"and {len(items) - limit} more"]


def bounded(text: str, limit_chars: int = MAX_MESSAGE_CHARS) -> str:
    """`text` in ASCII (other characters escaped), cut to at most `limit_chars`."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    if len(text) <= limit_chars:
        return text
    tail = f"... ({len(text)} chars in all)"
    return text[: limit_chars - len(tail)] + tail


def problems_message(prefix: str, problems: Sequence[str]) -> str:
    """One bounded message: `prefix`, then the first problems joined by "; "."""
    return bounded(prefix + "; ".join(listed(problems)))
