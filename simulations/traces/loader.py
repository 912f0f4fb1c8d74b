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
    path: str | Path, fmt: str, *, seed: int = 0, process: str = "poisson", cv: float = 1.0
) -> RequestTrace:
    """Loads a request trace; a rate series is turned into seeded synthetic arrivals."""
    if fmt == "azure":
        return load_azure(path)
    if fmt == "mooncake":
        return load_mooncake(path)
    if fmt == "burstgpt":
        return load_burstgpt(path)
    if fmt == "rate":
        return synthesise_arrivals(load_rate_series(path), seed=seed, process=process, cv=cv)
    raise ValueError(f"unknown trace format {fmt!r}; choose from {', '.join(TRACE_FORMATS)}")
