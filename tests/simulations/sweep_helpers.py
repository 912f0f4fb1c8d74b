"""A short rate-series trace file and the pieces of a small sweep, for the sweep tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from autoscaler.profile import BUNDLED_PROFILE, ModelProfile, load_profile
from simulations.sweep.cache import code_fingerprint
from simulations.sweep.executor import SweepExecutor
from simulations.sweep.grid import build_grid
from simulations.sweep.plan import SweepPlan, load_traces, plan_sweep
from simulations.sweep.tasks import PointResult, SweepTask, TraceRef
from simulations.traces.synthetic import synthetic_rate_series


def write_rate_trace(directory: Path, hours: float = 4.0, mean_rps: float = 8.0) -> Path:
    """A few hours of the demo's shape (daily cycle, 2.5x bursts) as a `rate` CSV:
    ~100 k requests, replays in well under a second per policy."""
    series = synthetic_rate_series(
        duration_s=hours * 3600, mean_rps=mean_rps, burst_rate_per_day=12.0, seed=3
    )
    path = directory / "short.csv"
    rows = ["t_s,rate_rps"] + [
        f"{t:g},{r:.6g}" for t, r in zip(series.t_s, series.rate_rps, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def base_profile() -> ModelProfile:
    return load_profile(BUNDLED_PROFILE)


def small_plan(
    trace_path: Path,
    sets: Sequence[str],
    families: Sequence[str] = ("predictive", "reactive-tokens", "oracle"),
    seed: int = 0,
) -> SweepPlan:
    base = base_profile()
    traces = load_traces([TraceRef(str(trace_path), "rate", seed)], warmup_s=3600.0)
    return plan_sweep(
        traces, families, build_grid(sets, base), base, seed=seed, code=code_fingerprint()
    )


class CountingExecutor:
    """Wraps an executor and records the tasks it was given."""

    def __init__(self, inner: SweepExecutor) -> None:
        self.inner = inner
        self.ran: list[SweepTask] = []

    def run(self, tasks: Sequence[SweepTask]) -> Iterator[tuple[SweepTask, PointResult]]:
        self.ran.extend(tasks)
        yield from self.inner.run(tasks)
