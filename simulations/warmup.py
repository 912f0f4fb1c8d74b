"""The trace's leading slice as back-filled history, so the simulated engine starts as
production's does.

Production (`Registry.backfill_history`) asks Prometheus for `forecast.history_s` of
observations, one per `forecast.bucket_s`, and feeds them to the engine before its first
decision. Here the trace is the source: `offered_history` (the emulator's back-fill) turns
the warm-up slice into what Prometheus would have recorded of a right-sized fleet serving it.
The rest of the trace is replayed and scored, shifted so that replay time 0 is the end of the
warm-up; the history therefore has negative times.
Worked number: a 7-day trace with the default warm-up gives the engine day 1 as 1,440
one-minute observations, and replays days 2-7 for every policy.
"""

from __future__ import annotations

from autoscaler.observation import Observation
from autoscaler.profile import ModelProfile
from simulations.emulator.history import offered_history
from simulations.emulator.trace_seconds import TraceSeconds
from simulations.fleet.physics import FleetPhysics
from simulations.traces.request_trace import RequestTrace

DAY_S = 86400.0


def default_warmup_s(duration_s: float) -> float:
    """One day, at most a quarter of the trace, as `prewarm backtest` does.
    Worked number: 7 days -> 86,400 s; the 2-day demo -> 43,200 s."""
    return min(DAY_S, duration_s / 4)


def check_warmup_s(warmup_s: float, duration_s: float) -> None:
    """Raises ValueError naming the problem when the warm-up is negative or leaves no request
    to replay (the last one arrives at `duration_s`)."""
    if not warmup_s >= 0:
        raise ValueError(f"--warmup-s must be >= 0, got {warmup_s:g}")
    if warmup_s and warmup_s >= duration_s:
        raise ValueError(
            f"--warmup-s {warmup_s:g} leaves nothing to replay: the trace's last request "
            f"arrives at {duration_s:g} s (use a shorter warm-up, or 0 for none)"
        )


def split_warmup(trace: RequestTrace, warmup_s: float) -> tuple[RequestTrace, RequestTrace]:
    """(history, replayed): arrivals before `warmup_s`, and the others with `warmup_s`
    subtracted. Raises ValueError as `check_warmup_s`."""
    check_warmup_s(warmup_s, trace.duration_s)
    cut = int(trace.arrival_s.searchsorted(warmup_s, side="left"))

    def part(lo: int, hi: int, shift_s: float) -> RequestTrace:
        return RequestTrace(
            trace.name,
            trace.arrival_s[lo:hi] - shift_s,
            trace.prompt_tokens[lo:hi],
            trace.output_tokens[lo:hi],
            trace.source,
            trace.meta,
        )

    return part(0, cut, 0.0), part(cut, trace.n_requests, warmup_s)


def backfill_history(
    history: RequestTrace, physics: FleetPhysics, profile: ModelProfile, warmup_s: float
) -> list[Observation]:
    """What production's back-fill would load at replay time 0: one observation per bucket
    over the last `forecast.history_s` of the warm-up (fewer when the warm-up is shorter)."""
    if warmup_s <= 0:
        return []
    settings = profile.forecast
    return offered_history(
        TraceSeconds.build(history, physics, profile, loop=False),
        physics,
        start_s=-settings.history_s,
        end_s=0.0,
        step_s=settings.bucket_s,
        fleet_start_s=-warmup_s,
        speed=1.0,
        loop=False,
        # As PrometheusSource.history: rates over the longer of the rate window and the step.
        window_s=round(max(physics.rate_window_s, settings.bucket_s)),
        fixed_replicas=None,
        engines_per_replica=1,
    )
