"""One entry point for every trace format the CLI accepts (the formats: formats.py)."""

from __future__ import annotations

from pathlib import Path

from simulations.traces.formats import trace_format
from simulations.traces.request_trace import RequestTrace
from simulations.traces.scale import (
    UNSCALED,
    TraceScale,
    check_scale,
    scaled_arrivals,
    scaled_requests,
)
from simulations.traces.span import trim_idle_gaps
from simulations.traces.window import (
    WHOLE,
    TraceWindow,
    check_window,
    windowed_requests,
    windowed_series,
)


def load_trace(
    path: str | Path,
    fmt: str,
    *,
    seed: int = 0,
    process: str = "poisson",
    cv: float = 1.0,
    max_requests: int | None = None,
    scale: TraceScale = UNSCALED,
    window: TraceWindow = WHOLE,
) -> RequestTrace:
    """Loads a request trace; a rate series is turned into seeded synthetic arrivals.

    seed, process, cv and max_requests only matter for the rate series (formats.RATE_FORMATS:
    see synthesise_arrivals; a series expecting over rate_series.SAFETY_LIMIT requests needs
    max_requests). Raises
    ValueError for an unknown fmt (checked first, so a typo is reported as such even if the
    path is wrong too), FileNotFoundError naming a missing path, and TraceFormatError (a
    ValueError) naming file and line for a malformed one. Idle gaps of over a week are
    shortened (`span.trim_idle_gaps`; meta says so). `scale` multiplies request rates and
    lengths (`scale.py`; ValueError naming the option where it does not apply). `window`
    keeps the rows or requests of a time window (`window.py`), cut before the idle gaps are
    shortened so they are measured inside it; ValueError naming the options when it keeps
    nothing.
    """
    spec = trace_format(fmt, "trace format")
    check_scale(scale, fmt)
    check_window(window)
    if spec.read_rates is not None:
        trace = scaled_arrivals(
            windowed_series(spec.read_rates(path), window),
            scale,
            seed=seed,
            process=process,
            cv=cv,
            max_requests=max_requests,
        )
    else:
        assert spec.read_requests is not None  # TraceFormat holds one or the other
        trace = scaled_requests(windowed_requests(spec.read_requests(path), window), scale)
    return trim_idle_gaps(trace)
