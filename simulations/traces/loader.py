"""One entry point for every trace format the CLI accepts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from simulations.traces.azure import load_azure
from simulations.traces.azure2024 import load_azure2024_digitized
from simulations.traces.burstgpt import load_burstgpt
from simulations.traces.mooncake import load_mooncake
from simulations.traces.rate_series import RateSeries, load_rate_series, synthesise_arrivals
from simulations.traces.request_trace import RequestTrace, TraceFormatError
from simulations.traces.span import trim_idle_gaps

TRACE_FORMATS = ("azure", "mooncake", "burstgpt", "rate", "azure2024")
RATE_FORMATS = ("rate", "azure2024")  # arrivals synthesised: --process, --cv, --max-requests
# The Azure 2024 release digitises requests and input tokens into two sibling files.
AZURE2024_REQUESTS = "requests_per_min"
AZURE2024_TOKENS = "input_tokens_per_min"


def load_trace(
    path: str | Path,
    fmt: str,
    *,
    seed: int = 0,
    process: str = "poisson",
    cv: float = 1.0,
    max_requests: int | None = None,
) -> RequestTrace:
    """Loads a request trace; a rate series is turned into seeded synthetic arrivals.

    seed, process, cv and max_requests only matter for the rate series, fmt="rate" and
    "azure2024" (see synthesise_arrivals; a series expecting over rate_series.SAFETY_LIMIT
    requests needs max_requests). Raises
    ValueError for an unknown fmt (checked first, so a typo is reported as such even if the
    path is wrong too), FileNotFoundError naming a missing path, and TraceFormatError (a
    ValueError) naming file and line for a malformed one. Idle gaps of over a week are
    shortened (`span.trim_idle_gaps`; meta says so).
    """
    if fmt == "azure":
        trace = load_azure(path)
    elif fmt == "mooncake":
        trace = load_mooncake(path)
    elif fmt == "burstgpt":
        trace = load_burstgpt(path)
    elif fmt in RATE_FORMATS:
        series = load_rate_series(path) if fmt == "rate" else _azure2024_series(Path(path))
        trace = synthesise_arrivals(
            series, seed=seed, process=process, cv=cv, max_requests=max_requests
        )
    else:
        raise ValueError(f"unknown trace format {fmt!r}; choose from {', '.join(TRACE_FORMATS)}")
    return trim_idle_gaps(trace)


def _azure2024_series(requests_csv: Path) -> RateSeries:
    """The digitised requests file, with the input-token file beside it when there is one
    (`..._requests_per_min_...` -> `..._input_tokens_per_min_...`): prompt lengths then
    follow the published token rate instead of the 2,048-token default."""
    if AZURE2024_TOKENS in requests_csv.name:
        raise TraceFormatError(
            requests_csv, None, f"this is the input-token file; pass the *{AZURE2024_REQUESTS}* one"
        )
    tokens_csv = requests_csv.with_name(
        requests_csv.name.replace(AZURE2024_REQUESTS, AZURE2024_TOKENS)
    )
    if AZURE2024_REQUESTS not in requests_csv.name or not tokens_csv.is_file():
        return load_azure2024_digitized(requests_csv)
    series = load_azure2024_digitized(requests_csv, tokens_csv)
    return replace(series, source=f"{series.source} + {tokens_csv}")  # say what was read
