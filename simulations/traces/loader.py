"""One entry point for every trace format the CLI accepts."""

from __future__ import annotations

from pathlib import Path

from simulations.traces.azure import load_azure
from simulations.traces.burstgpt import load_burstgpt
from simulations.traces.mooncake import load_mooncake
from simulations.traces.rate_series import load_rate_series, synthesise_arrivals
from simulations.traces.request_trace import RequestTrace

TRACE_FORMATS = ("azure", "mooncake", "burstgpt", "rate")


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

    seed, process, cv and max_requests only matter for fmt="rate" (see synthesise_arrivals;
    a series expecting over rate_series.SAFETY_LIMIT requests needs max_requests). Raises
    ValueError for an unknown fmt (checked first, so a typo is reported as such even if the
    path is wrong too), FileNotFoundError naming a missing path, and TraceFormatError (a
    ValueError) naming file and line for a malformed one.
    """
    if fmt == "azure":
        return load_azure(path)
    if fmt == "mooncake":
        return load_mooncake(path)
    if fmt == "burstgpt":
        return load_burstgpt(path)
    if fmt == "rate":
        series = load_rate_series(path)
        return synthesise_arrivals(
            series, seed=seed, process=process, cv=cv, max_requests=max_requests
        )
    raise ValueError(f"unknown trace format {fmt!r}; choose from {', '.join(TRACE_FORMATS)}")
