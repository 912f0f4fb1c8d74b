"""Placement quality and speed: the packer against baselines, and at fleet scale.

    .venv/bin/python benchmarks/placement.py [--seed 0] [--small 12]

1. Random small instances (8-50 slice replicas on 8-GPU H100 nodes, some GPUs with running
   slices): GPUs used by the exact ILP, the heuristic, one-replica-per-GPU, and a nos-like greedy
   fixed-layout packer, side by side.
2. 5,000 replicas over 2,000 GPUs (H100 and A100 nodes, 10 % of nodes with running slices):
   heuristic GPUs used, lower bound, gap, wall time.
3. The same fleet ~15 % short: 5,000 bigger replicas, a third pinned to H100, a third to A100,
   a third preferring H100 over A100: replicas left out and wall time.
Figures only; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scheduler.packing.baselines import fixed_layout_count, whole_gpu_count
from scheduler.packing.bounds import lower_bound_gpus
from scheduler.packing.exact import pack_exact
from scheduler.packing.heuristic import pack_heuristic
from scheduler.packing.problem import GpuSlot, Item, Problem
from scheduler.sizing import SliceChoice

# Serving mix: many small models on 1g/2g, 8B-class on 3g, a few 4g and full-GPU ones.
PROFILES = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
WEIGHTS = (0.30, 0.15, 0.20, 0.25, 0.05, 0.05)
PRICE = {"H100-80GB": 55.04, "A100-80GB": 27.45}
TYPE = {"H100-80GB": "p5.48xlarge", "A100-80GB": "p4de.24xlarge"}


def fleet(
    rng: np.random.Generator, nodes: int, models: tuple[str, ...], running: float
) -> list[GpuSlot]:
    """8-GPU nodes; a `running` share of nodes has a 3g.40gb running at start 4 on half its GPUs."""
    gpus = []
    for n in range(nodes):
        model = models[n % len(models)]
        busy = rng.random() < running
        for i in range(8):
            fixed = (("3g.40gb", 4),) if busy and i < 4 else ()
            gpus.append(
                GpuSlot(
                    f"node-{n}",
                    f"GPU-{n}-{i}",
                    model,
                    TYPE[model],
                    "us-east-1a",
                    PRICE[model],
                    fixed,
                )
            )
    return gpus


def items(rng: np.random.Generator, count: int, models: tuple[str, ...]) -> list[Item]:
    picks = rng.choice(len(PROFILES), size=count, p=WEIGHTS)
    where = rng.integers(0, len(models), size=count)
    return [
        Item(f"r{j}", f"model-{j % 12}", (SliceChoice(models[where[j]], PROFILES[picks[j]]),))
        for j in range(count)
    ]


def small_instances(seed: int, count: int) -> None:
    rng = np.random.default_rng(seed)
    print(f"Random small instances (seed {seed}): GPUs used")
    columns: list[tuple[str, int]] = [("replicas", 8), ("bound", 6), ("exact", 6), ("proved", 6)]
    columns += [("heur", 5), ("whole", 6), ("nos-like", 9), ("ILP s", 6)]
    print(" ".join(f"{name:>{width}}" for name, width in columns))
    totals = np.zeros(4)
    for _ in range(count):
        n = int(rng.integers(8, 51))
        problem = Problem(
            tuple(fleet(rng, 8, ("H100-80GB",), 0.25)), tuple(items(rng, n, ("H100-80GB",)))
        )
        started = time.perf_counter()
        exact = pack_exact(problem, time_limit_s=20.0)
        ilp_s = time.perf_counter() - started
        heuristic = pack_heuristic(problem)
        nos, nos_unplaced = fixed_layout_count(problem)
        whole = whole_gpu_count(problem)
        assert exact is not None
        row = (exact.gpus_used, heuristic.gpus_used, whole, nos)
        totals += row
        print(
            f"{n:>8} {lower_bound_gpus(problem):>6} {exact.gpus_used:>6} "
            f"{'yes' if exact.proven_optimal else 'no':>6} {heuristic.gpus_used:>5} {whole:>6} "
            f"{nos:>6}{'' if not nos_unplaced else f'+{nos_unplaced}u':>3} {ilp_s:>6.2f}"
        )
    e, h, w, f = totals
    print(
        f"{'total':>8} {'':>6} {int(e):>6} {'':>6} {int(h):>5} {int(w):>6} {int(f):>6}"
        f"   -> exact uses {100 * (1 - e / w):.0f} % fewer GPUs than whole-GPU, "
        f"{100 * (1 - e / f):.0f} % fewer than nos-like"
    )


def large_instance(seed: int) -> None:
    rng = np.random.default_rng(seed + 1)
    models = ("H100-80GB", "A100-80GB")
    problem = Problem(tuple(fleet(rng, 250, models, 0.1)), tuple(items(rng, 5000, models)))
    started = time.perf_counter()
    result = pack_heuristic(problem)
    wall_s = time.perf_counter() - started
    bound = lower_bound_gpus(problem)
    gap = 100.0 * (result.gpus_used - bound) / bound
    nos, nos_unplaced = fixed_layout_count(problem)
    print(
        f"\n5,000 replicas over {len(problem.gpus):,} GPUs: heuristic {result.gpus_used} GPUs, "
        f"lower bound {bound}, gap {gap:.2f} %, {len(result.unplaced)} unplaced, "
        f"wall {wall_s:.3f} s (whole-GPU would need {whole_gpu_count(problem)}; "
        f"nos-like {nos} with {nos_unplaced} unplaced)"
    )


# Heavier on 3g and up than the serving mix above: ~3.6 memory slices a replica, so 5,000
# replicas need ~15 % more than 2,000 GPUs hold.
SHORT_WEIGHTS = (0.15, 0.10, 0.15, 0.35, 0.10, 0.15)
H100_A100 = (("H100-80GB",), ("A100-80GB",), ("H100-80GB", "A100-80GB"))


def shortage_instance(seed: int) -> None:
    rng = np.random.default_rng(seed + 2)
    gpus = fleet(rng, 250, ("H100-80GB", "A100-80GB"), 0.1)
    picks = rng.choice(len(PROFILES), size=5000, p=SHORT_WEIGHTS)
    where = rng.integers(0, len(H100_A100), size=5000)
    replicas = tuple(
        Item(
            f"r{j}",
            f"model-{j % 12}",
            tuple(SliceChoice(gpu, PROFILES[picks[j]]) for gpu in H100_A100[where[j]]),
        )
        for j in range(5000)
    )
    started = time.perf_counter()
    result = pack_heuristic(Problem(tuple(gpus), replicas))
    wall_s = time.perf_counter() - started
    print(
        f"\n5,000 replicas over {len(gpus):,} GPUs, ~15 % short (pinned and flexible): "
        f"heuristic left {len(result.unplaced)} out, {result.gpus_used} GPUs used, "
        f"wall {wall_s:.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", type=int, default=12, help="number of small instances")
    args = parser.parse_args()
    small_instances(args.seed, args.small)
    large_instance(args.seed)
    shortage_instance(args.seed)


if __name__ == "__main__":
    main()
