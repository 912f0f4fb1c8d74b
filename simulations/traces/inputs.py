"""A trace as the CLI's commands take it: a file in one of the formats, or the bundled demo.

One place for what `prewarm simulate` and `prewarm sweep` (and its worker processes) do to
turn `--trace/--format/--seed` into a replayable trace and a warm-up, so both read the same
requests from the same flags.
"""

from __future__ import annotations

from pathlib import Path

from simulations.traces.formats import FORMAT_NAMES, RATE_FORMATS, trace_format
from simulations.traces.loader import load_trace
from simulations.traces.request_trace import RequestTrace, TraceFormatError
from simulations.traces.scale import UNSCALED, TraceScale, check_scale
from simulations.traces.span import check_replay_span
from simulations.traces.synthetic import synthetic_trace
from simulations.traces.window import WHOLE, TraceWindow, check_window
from simulations.warmup import check_warmup_s, default_warmup_s

# The bundled trace: two days of code-assistant-like traffic, big enough to need ~5-15
# replicas of the default profile, small enough to replay in seconds.
DEMO_DURATION_S = 2 * 86400.0
DEMO_MEAN_RPS = 15.0


def bundled_trace(seed: int) -> RequestTrace:
    """The demo trace (~2.6 M requests over 2 days); the same seed gives the same trace."""
    return synthetic_trace(duration_s=DEMO_DURATION_S, mean_rps=DEMO_MEAN_RPS, seed=seed)


def check_trace_options(
    has_trace: bool,
    fmt: str,
    process: str,
    cv: float,
    max_requests: int | None,
    scale: TraceScale = UNSCALED,
    window: TraceWindow = WHOLE,
) -> None:
    """Raises ValueError naming the flag: an unknown --format or --process, arrival
    synthesis options (--process, --cv, --max-requests) where nothing is synthesised (the
    bundled trace, or a format that lists its requests), since they would be ignored, or a
    scale or window that does not apply (`scale.check_scale`, `window.check_window`)."""
    trace_format(fmt)
    check_scale(scale, fmt, has_trace=has_trace)
    check_window(window, has_trace=has_trace)
    if process not in ("poisson", "gamma"):
        raise ValueError(f"unknown --process {process!r}; choose poisson or gamma")
    synthesis = {
        "--process": process != "poisson",
        "--cv": cv != 1.0,
        "--max-requests": max_requests is not None,
    }
    if (not has_trace or fmt not in RATE_FORMATS) and any(synthesis.values()):
        given = ", ".join(flag for flag, set_ in synthesis.items() if set_)
        source = "the bundled trace" if not has_trace else f"--format {fmt}"
        raise ValueError(
            f"{given} shape arrivals synthesised from a rate series (--format "
            f"{', '.join(RATE_FORMATS[:-1])} or {RATE_FORMATS[-1]}); {source} lists its "
            "requests, so it would be ignored"
        )


def load_trace_input(
    path: str | Path | None,
    fmt: str,
    *,
    seed: int = 0,
    process: str = "poisson",
    cv: float = 1.0,
    max_requests: int | None = None,
    scale: TraceScale = UNSCALED,
    window: TraceWindow = WHOLE,
) -> RequestTrace:
    """The bundled trace when `path` is None (which `scale` and `window` must leave as it
    is), else
    `load_trace`'s. A format error says which
    format the file was read as (without --format a Mooncake or rate file is read as Azure),
    and a trace without requests is refused naming the file: both ValueErrors."""
    if path is None:
        check_scale(scale, fmt, has_trace=False)
        check_window(window, has_trace=False)
        return bundled_trace(seed)
    try:
        trace = load_trace(
            path,
            fmt,
            seed=seed,
            process=process,
            cv=cv,
            max_requests=max_requests,
            scale=scale,
            window=window,
        )
    except TraceFormatError as exc:
        others = ", ".join(f for f in FORMAT_NAMES if f != fmt)
        raise ValueError(f"{exc} (read as --format {fmt}; other formats: {others})") from None
    if trace.n_requests == 0:
        raise ValueError(f"{path}: the trace has no requests")
    return trace


def replay_warmup_s(trace: RequestTrace, warmup_s: float | None) -> float:
    """The warm-up to use (given, or one day at most a quarter of the trace), after checking
    that the trace's span can be replayed at all (before a day's worth of ticks is
    allocated). Raises ValueError naming the problem."""
    check_replay_span(trace)
    warmup = default_warmup_s(trace.duration_s) if warmup_s is None else warmup_s
    check_warmup_s(warmup, trace.duration_s)
    return warmup
