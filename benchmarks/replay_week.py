"""Benchmark: replay a week of ~17 M requests through the predictive policy.

Goal (issue 2): <= 60 s wall and <= 4 GB peak memory on 2 cores. Prints simulated requests
per second. Uses the shared Azure 2024 code series when ../shared is beside the project,
otherwise a synthetic week of the same volume and shape (so the benchmark runs anywhere).
Like `prewarm simulate`, the first day back-fills the engine and the other six are replayed.

    .venv/bin/python benchmarks/replay_week.py [--policy predictive] [--seed 0]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from autoscaler.profile import load_profile
from simulations.fleet.physics import FleetPhysics
from simulations.report.summary import policy_summary
from simulations.runner import simulate
from simulations.traces.loader import load_trace
from simulations.traces.request_trace import RequestTrace
from simulations.warmup import default_warmup_s

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "traces" / "azure2024"
PROFILE = ROOT / "autoscaler" / "profiles" / "default.yaml"


def week_trace(seed: int) -> RequestTrace:
    requests = SHARED / "azure2024_code_requests_per_min_digitized.csv"
    if requests.exists():
        return load_trace(requests, "azure2024", seed=seed)  # with the token file beside it
    from simulations.traces.synthetic import synthetic_trace

    return synthetic_trace(duration_s=7 * 86400, mean_rps=27.8, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="predictive")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    trace = week_trace(args.seed)
    loaded = time.perf_counter()
    profile = load_profile(PROFILE)
    warmup_s = default_warmup_s(trace.duration_s)
    physics = FleetPhysics.from_profile(profile)
    runs = simulate(trace, profile, physics, [args.policy], seed=args.seed, warmup_s=warmup_s)
    done = time.perf_counter()
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    replay_s = done - loaded
    summary = policy_summary(runs[0])
    replayed = runs[0].ttft_s.size
    print(
        f"trace: {trace.name}, {trace.n_requests:,} requests"
        f" over {trace.duration_s / 86400:.2f} days; {replayed:,} replayed after a"
        f" {warmup_s / 3600:.0f} h warm-up"
    )
    print(f"synthesise arrivals: {loaded - started:6.1f} s")
    print(
        f"replay ({args.policy}): {replay_s:6.1f} s"
        f"  -> {replayed / replay_s:,.0f} simulated requests/s"
    )
    print(f"total wall: {done - started:6.1f} s   peak RSS: {peak_gib:.2f} GiB")
    print(f"slo_attainment {summary['slo_attainment']:.4f}  gpu_hours {summary['gpu_hours']:.1f}")


if __name__ == "__main__":
    main()
