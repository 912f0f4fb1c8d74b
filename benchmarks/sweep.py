"""Benchmark: a 30-point `prewarm sweep` of the 7-day Azure 2024 code week on 2 workers.

Goal (issue 17): <= 10 min wall and <= 6 GB peak memory on 2 cores. The grid is target
utilisation 0.5-0.9 x forecast quantile 0.8/0.9/0.95: 15 replays of predictive, 5 each of
reactive-tokens, dynamo-like and oracle (they read no quantile), so 30 distinct replays
(25 without dynamo-like). Everything runs: the cache starts empty.

Prints the sweep's wall time, the sum of the workers' peak RSS (each worker's own
high-water mark, as the kernel counts it) and the planning process's, and as a reference
one single replay of predictive at the profile, timed in this process in the same run, so
the sweep is also read as a ratio (the ideal on 2 workers is the sum of the replays / 2).
Uses the shared series when ../shared is beside the project, otherwise a synthetic week of
the same volume written as a rate series.

    .venv/bin/python benchmarks/sweep.py [--workers 2] [--seed 0] [--out out/bench-sweep]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console

from autoscaler.profile import load_profile
from simulations.runner import POLICY_NAMES
from simulations.sweep.cache import ResultCache, code_fingerprint
from simulations.sweep.executor import ProcessPoolSweepExecutor
from simulations.sweep.grid import build_grid
from simulations.sweep.plan import load_traces, plan_sweep
from simulations.sweep.plot import plot_frontier
from simulations.sweep.replay import forget_loaded_traces, run_task
from simulations.sweep.report import frontier_table, needed_table, sweep_json, write_json
from simulations.sweep.results import collect
from simulations.sweep.run import run_sweep
from simulations.sweep.tasks import PointResult, SweepTask, TraceRef

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "traces" / "azure2024"
PROFILE = ROOT / "autoscaler" / "profiles" / "default.yaml"
SETS = ("target_utilisation=0.5:0.9:0.1", "forecast.quantile=0.8,0.9,0.95")
FAMILIES = [
    f for f in ("predictive", "reactive-tokens", "dynamo-like", "oracle") if f in POLICY_NAMES
]


def week_ref(seed: int, scratch: Path) -> TraceRef:
    requests = SHARED / "azure2024_code_requests_per_min_digitized.csv"
    if requests.exists():
        return TraceRef(str(requests), "azure2024", seed)  # with the token file beside it
    from simulations.traces.synthetic import synthetic_rate_series

    series = synthetic_rate_series(duration_s=7 * 86400, mean_rps=27.8, seed=seed)
    path = scratch / "synthetic-week.csv"
    rows = [f"{t:g},{r:.6g}" for t, r in zip(series.t_s, series.rate_rps, strict=True)]
    path.write_text("t_s,rate_rps\n" + "\n".join(rows) + "\n")
    return TraceRef(str(path), "rate", seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench-sweep")
    args = parser.parse_args()
    console = Console()
    scratch = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        started = time.perf_counter()
        base = load_profile(PROFILE)
        grid = build_grid(SETS, base)
        traces = load_traces([week_ref(args.seed, scratch)], warmup_s=None)
        plan = plan_sweep(traces, FAMILIES, grid, base, seed=args.seed, code=code_fingerprint())
        planned = time.perf_counter()
        console.print(
            f"trace: {traces[0].label}, {traces[0].info['requests']:,} requests; "
            f"{len(plan.tasks)} distinct replays of {', '.join(FAMILIES)}; planning (load, "
            f"check, digest) {planned - started:.1f} s",
            highlight=False,
        )

        reference = next(t for t in plan.tasks if t.family == "predictive" and not t.overrides)
        load_started = time.perf_counter()
        run_task(reference)  # loads the trace in this process, then replays
        single_s = time.perf_counter() - load_started
        forget_loaded_traces()  # not held through the sweep
        console.print(
            f"reference: one predictive replay at the profile, {single_s:.1f} s in this "
            f"process (trace synthesis included)",
            highlight=False,
        )

        args.out.mkdir(parents=True, exist_ok=True)
        cache = ResultCache(scratch / "cache")  # empty: every replay runs
        sweep_started = time.perf_counter()
        done = 0

        def on_result(task: SweepTask, result: PointResult, cached: bool) -> None:
            nonlocal done
            done += 1
            console.print(
                f"  {done:>2}/{len(plan.tasks)} {time.perf_counter() - sweep_started:6.0f} s  "
                f"{task.family:<15} {result.replay_s:5.1f} s  {result.peak_rss_mib:,.0f} MiB",
                highlight=False,
            )

        outcome = run_sweep(plan, ProcessPoolSweepExecutor(args.workers), cache, on_result)
        wall_s = time.perf_counter() - sweep_started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    per_worker: dict[str, float] = {}
    for result in outcome.results.values():
        per_worker[result.worker] = max(per_worker.get(result.worker, 0.0), result.peak_rss_mib)
    replay_sum_s = sum(r.replay_s for r in outcome.results.values())
    main_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_trace = collect(outcome)
    for results in per_trace:
        for family in plan.families:
            console.print(frontier_table(results, family, [a.path for a in grid.axes]))
        needed = needed_table(results)
        if needed is not None:
            console.print(needed)
    write_json(args.out / "sweep.json", sweep_json(outcome, per_trace))
    plot_frontier(per_trace, args.out / "frontier.png")
    console.print(
        f"sweep: {len(plan.tasks)} replays on {args.workers} workers in {wall_s:.0f} s "
        f"({wall_s / 60:.1f} min; goal <= 10 min)\n"
        f"memory: workers' peak RSS summed {sum(per_worker.values()) / 1024:.2f} GiB "
        f"({', '.join(f'{v / 1024:.2f}' for v in per_worker.values())} GiB; goal <= 6 GB); "
        f"this process {main_mib / 1024:.2f} GiB (planning and the reference replay)\n"
        f"reference: one predictive replay {single_s:.1f} s (trace load included); the "
        f"sweep took {wall_s / single_s:.1f}x one replay "
        f"(replays summed {replay_sum_s:.0f} s: {replay_sum_s / args.workers:.0f} s ideal on "
        f"{args.workers} workers, {wall_s / (replay_sum_s / args.workers):.2f}x of it)\n"
        f"sweep.json and frontier.png in {args.out}",
        highlight=False,
    )


if __name__ == "__main__":
    main()
