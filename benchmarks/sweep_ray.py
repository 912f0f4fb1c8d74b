"""Benchmark: N sweep replays of one trace on local workers vs a local Ray cluster.

Issue 19 asks for 100 replays of the 7-day Azure 2024 code week on 2 cores; that is ~1 h
here, so N is a flag (default 20) and `--hours` swaps the week for a synthetic rate series
of that length. The replays are `--family` (default predictive) at N distinct
target utilisations (0.5-0.9), so none is a repeat; nothing is cached.

Both backends get the same tasks on the same 2 CPUs: a process pool of `--cpus` workers,
then a fresh `ray start --head --num-cpus <cpus>` on loopback (simulations/sweep/ray_local).
For each it prints the wall time, the replays' own time summed (`replay_s`, measured in the
worker), and the overhead per task: the CPU-seconds the backend spent beyond the replays,
(wall x cpus - replays summed) / N, with the replays as Ray timed them (trace loaded) on
both: pool start-up and each worker's own trace load locally; the driver's trace load,
ray.put, scheduling and result transfer on Ray (the head's start and connect not
included). The numbers of both runs are compared (they must be equal).

The projection for a cluster of `--nodes` x `--node-cpus` CPUs uses the per-task figures:
waves = ceil(N / slots), time = waves x mean replay + N x Ray overhead per task / slots +
one trace transfer per node (its pickled size at `--gbit-s`).

    .venv/bin/python benchmarks/sweep_ray.py [--n 20] [--hours H] [--cpus 2] [--nodes 10]
"""

from __future__ import annotations

import argparse
import math
import pickle
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from autoscaler.profile import BUNDLED_PROFILE, load_profile
from simulations.sweep.cache import code_fingerprint
from simulations.sweep.executor import ProcessPoolSweepExecutor, SweepExecutor
from simulations.sweep.grid import build_grid
from simulations.sweep.plan import load_traces, plan_sweep
from simulations.sweep.ray_executor import RaySweepExecutor, connect, disconnect
from simulations.sweep.ray_local import start_cluster
from simulations.sweep.tasks import PointResult, SweepTask, TraceRef

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "traces" / "azure2024"
PROFILE = BUNDLED_PROFILE


def trace_ref(hours: float | None, seed: int, scratch: Path) -> TraceRef:
    requests = SHARED / "azure2024_code_requests_per_min_digitized.csv"
    if hours is None and requests.exists():
        return TraceRef(str(requests), "azure2024", seed)  # with the token file beside it
    from simulations.traces.synthetic import synthetic_rate_series

    duration_s = (hours if hours is not None else 7 * 24.0) * 3600
    series = synthetic_rate_series(duration_s=duration_s, mean_rps=27.8, seed=seed)
    path = scratch / "synthetic.csv"
    rows = [f"{t:g},{r:.6g}" for t, r in zip(series.t_s, series.rate_rps, strict=True)]
    path.write_text("t_s,rate_rps\n" + "\n".join(rows) + "\n")
    return TraceRef(str(path), "rate", seed)


def tasks_for(ref: TraceRef, n: int, seed: int, family: str) -> list[SweepTask]:
    base = load_profile(PROFILE)
    values = ",".join(f"{0.5 + 0.4 * i / max(n - 1, 1):.6f}" for i in range(n))
    grid = build_grid([f"target_utilisation={values}"], base)
    traces = load_traces([ref], warmup_s=None)
    plan = plan_sweep(traces, [family], grid, base, seed=seed, code=code_fingerprint())
    return [t for t in plan.tasks if t.overrides][:n]


def timed(
    executor: SweepExecutor, tasks: Sequence[SweepTask]
) -> tuple[float, dict[str, PointResult]]:
    started = time.perf_counter()
    results = {task.key: result for task, result in executor.run(tasks)}
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="replays (issue 19: 100)")
    parser.add_argument("--hours", type=float, default=None, help="synthetic trace length")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--node-cpus", type=int, default=8)
    parser.add_argument("--gbit-s", type=float, default=10.0, help="network, for the trace")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--family",
        default="predictive",
        help="the replayed policy; reactive-tokens replays the Azure week ~4x faster (6 s "
        "against 24 s here), so the backends' "
        "own overhead weighs more in the figures",
    )
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-sweep-ray-"))
    try:
        ref = trace_ref(args.hours, args.seed, scratch)
        tasks = tasks_for(ref, args.n, args.seed, args.family)
        trace = ref.load()
        trace_mb = len(pickle.dumps(trace, protocol=5)) / 1e6
        print(
            f"trace: {trace.name}, {trace.n_requests:,} requests over "
            f"{trace.duration_s / 3600:.1f} h ({trace_mb:.0f} MB pickled); {len(tasks)} "
            f"{args.family} replays; {args.cpus} CPUs each backend",
            flush=True,
        )
        del trace

        local_s, local = timed(ProcessPoolSweepExecutor(args.cpus), tasks)
        print(f"local: {local_s:.1f} s", flush=True)

        cluster_started = time.perf_counter()
        cluster = start_cluster(args.cpus)
        try:
            head_s = time.perf_counter() - cluster_started
            connect_started = time.perf_counter()
            ray = connect(cluster.address)
            connect_s = time.perf_counter() - connect_started
            try:
                # No code check: the comparison of the numbers below is the check.
                ray_s, on_ray = timed(RaySweepExecutor(ray), tasks)
            finally:
                disconnect()
        finally:
            cluster.stop()
        print(f"ray: {ray_s:.1f} s (head start {head_s:.1f} s, connect {connect_s:.1f} s)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    same = (
        all(local[k].metrics == on_ray[k].metrics for k in local) and local.keys() == on_ray.keys()
    )
    n = len(tasks)
    local_sum = sum(r.replay_s for r in local.values())
    ray_sum = sum(r.replay_s for r in on_ray.values())
    # The same work on both: the replays as Ray ran them (the trace already loaded; a local
    # worker's first replay also loads it, which is the pool's overhead, not replay time).
    local_over = (local_s * args.cpus - ray_sum) / n
    ray_over = (ray_s * args.cpus - ray_sum) / n
    mean_replay = ray_sum / n
    slots = args.nodes * args.node_cpus
    transfer_s = trace_mb * 8 / 1000 / args.gbit_s
    for label, count in ((f"these {n}", n), ("100", 100)):
        waves = math.ceil(count / slots)
        projected = waves * mean_replay + count * ray_over / slots + transfer_s
        print(
            f"projected, {label} replays on {args.nodes} nodes x {args.node_cpus} CPUs: "
            f"{projected:.1f} s ({waves} wave(s) of {mean_replay:.1f} s, overhead "
            f"{count * ray_over / slots:.1f} s, trace transfer {transfer_s:.2f} s/node)"
        )
    print(
        f"local workers: {local_s:.1f} s wall, replays summed {local_sum:.1f} s, overhead "
        f"{local_over:.2f} CPU-s per task\n"
        f"Ray:           {ray_s:.1f} s wall, replays summed {ray_sum:.1f} s, overhead "
        f"{ray_over:.2f} CPU-s per task\n"
        f"Ray / local: {ray_s / local_s:.2f}x wall; same numbers: {same}"
    )


if __name__ == "__main__":
    main()
