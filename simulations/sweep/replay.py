"""One sweep task run where it lands: load (or reuse) the trace, replay, summarise.

This is the only code a worker runs. It goes through `simulations.runner.simulate` with one
policy, so a sweep point and a `prewarm simulate` row are the same replay: with the same
trace, profile, seed and warm-up they give the same numbers.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from functools import lru_cache

from autoscaler.profile import parse_profile
from simulations.fleet.physics import FleetPhysics
from simulations.report.summary import policy_summary
from simulations.runner import simulate
from simulations.sweep.tasks import PointResult, SweepTask, TraceRef, trace_digest
from simulations.traces.request_trace import RequestTrace


@lru_cache(maxsize=1)  # one trace held per worker: a week is ~270 MB; tasks come trace by trace
def _loaded(ref: TraceRef) -> tuple[RequestTrace, str]:
    trace = ref.load()
    return trace, trace_digest(trace)


def forget_loaded_traces() -> None:
    """Drops the trace this process keeps for its next task (its memory is then free)."""
    _loaded.cache_clear()


def run_task(task: SweepTask) -> PointResult:
    """Replays `task`; raises RuntimeError when the trace file changed since the sweep was
    planned (its cache key would then describe other requests)."""
    started = time.perf_counter()
    trace, digest = _loaded(task.trace)
    check_digest(task, digest)
    return replay(task, trace, started)


def check_digest(task: SweepTask, digest: str) -> None:
    if digest != task.trace_digest:
        raise RuntimeError(
            f"{task.trace.path}: the trace changed while the sweep ran (digest {digest}, "
            f"planned {task.trace_digest}); run the sweep again"
        )


def replay(task: SweepTask, trace: RequestTrace, started: float | None = None) -> PointResult:
    """Replays `task` on `trace`, already loaded and checked against `task.trace_digest`
    (a remote executor ships the trace itself: `ray_executor`)."""
    started = time.perf_counter() if started is None else started
    profile = parse_profile(task.profile, f"sweep task {task.key[:12]}")
    run = simulate(
        trace,
        profile,
        FleetPhysics.from_profile(profile),
        [task.family],
        seed=task.seed,
        warmup_s=task.warmup_s,
    )[0]
    return PointResult(
        metrics=policy_summary(run),
        requests=int(run.ttft_s.size),
        replay_s=time.perf_counter() - started,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
