"""Placement controller speed: one reconcile turn of 5,000 replicas over 2,000 GPUs when 50
replicas change, against a plan of the same fleet from scratch.

    .venv/bin/python benchmarks/reconcile.py [--seed 0] [--repeat 5] [--exact-max-gpus 256]

The fleet: 250 nodes of 8 GPUs (half H100 p5.48xlarge, half A100 p4de.24xlarge), a tenth of
them with another workload's 3g.40gb on four GPUs, nothing left to provision. 100 models of
50 replicas each on one MIG profile from a serving mix, pinned to H100, to A100, or H100
before A100. The from-scratch plan is made, its replicas then run (laid into the inventory as
the cluster would show them), and the demand changes by 50 replicas among the models allowed
on both GPU models: 5 models +5 and 5 models -5 ("mixed"), or 10 models +5 ("rise"). Each
turn is timed whole (overlay, placement, changes, diff), then its parts, and printed as a
ratio to two references from scratch: `plan_placement` alone ("/ place") and a reconcile
with no last plan, which renders every model's objects ("/ full"). The goal is <= 0.5 s
on 2 cores. `--exact-max-gpus 2000` lets the ILP try too (1 s limit). Figures only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from scheduler.controller.diff import placement_diff
from scheduler.controller.overlay import with_planned
from scheduler.controller.reconcile import ReconcileResult, reconcile
from scheduler.controller.settings import ControllerSettings
from scheduler.demand import Demand, ModelDemand
from scheduler.inventory import Gpu, InstanceType, Inventory, MigInstance, Node
from scheduler.place import plan_placement

PROFILES = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
WEIGHTS = (0.30, 0.15, 0.20, 0.25, 0.05, 0.05)
TYPES = (("p5.48xlarge", "H100-80GB", 55.04), ("p4de.24xlarge", "A100-80GB", 27.45))
ALLOWED = (("H100-80GB",), ("A100-80GB",), ("H100-80GB", "A100-80GB"))


def fleet(rng: np.random.Generator, nodes: int = 250) -> Inventory:
    out = []
    for n in range(nodes):
        itype, model, _ = TYPES[n % 2]
        busy = rng.random() < 0.1
        gpus = tuple(
            Gpu(
                f"GPU-{n:04d}-{i}",
                model,
                (MigInstance("3g.40gb", 4, True),) if busy and i < 4 else (),
            )
            for i in range(8)
        )
        out.append(Node(f"node-{n:04d}", "us-east-1a", itype, gpus))
    types = tuple(InstanceType(t, "us-east-1a", m, 8, p, 0) for t, m, p in TYPES)
    return Inventory(tuple(out), types)


def demand(rng: np.random.Generator, models: int = 100, replicas: int = 50) -> Demand:
    picks = rng.choice(len(PROFILES), size=models, p=WEIGHTS)
    return Demand(
        tuple(
            ModelDemand(
                f"model-{k:03d}",
                replicas,
                mig_profile=PROFILES[picks[k]],
                gpu_models=ALLOWED[k % len(ALLOWED)],
            )
            for k in range(models)
        )
    )


def changed(base: Demand, kind: str) -> Demand:
    """50 replicas of the models allowed on both GPU models change: "mixed" = 5 models +5 and
    5 models -5; "rise" = 10 models +5."""
    flexible = [k for k, m in enumerate(base.models) if len(m.gpu_models) > 1][:10]
    delta = {k: 5 for k in flexible[:5]} | {k: -5 for k in flexible[5:]}
    if kind == "rise":
        delta = {k: 5 for k in flexible}
    models = tuple(
        replace(m, replicas=m.replicas + delta.get(k, 0)) for k, m in enumerate(base.models)
    )
    return replace(base, models=models)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    walls = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--exact-max-gpus", type=int, default=256, help="settings.exact_max_gpus")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    inventory = fleet(rng)
    base = demand(rng)
    settings = ControllerSettings(exact_max_gpus=args.exact_max_gpus)
    gpus = sum(len(n.gpus) for n in inventory.nodes)
    replicas = sum(m.replicas for m in base.models)
    print(
        f"{replicas:,} replicas of {len(base.models)} models over {gpus:,} GPUs; "
        f"{os.cpu_count()} CPU(s); ILP up to {settings.exact_max_replicas} new replicas on "
        f"fleets up to {settings.exact_max_gpus} GPUs, {settings.exact_time_limit_s:g} s"
    )

    options = settings.placement_options(gpus=gpus)
    scratch_s, _ = timed(lambda: plan_placement(inventory, base, options), args.repeat)
    full_s, full = timed(lambda: reconcile(None, inventory, base, None, settings, 0.0), args.repeat)
    plan = full.plan
    print(
        f"reference, from scratch: plan_placement {scratch_s:.3f} s; reconcile {full_s:.3f} s "
        f"(writes every model's objects); {plan.gpus_used} GPUs (bound "
        f"{plan.lower_bound_gpus}), {len(plan.unplaced)} unplaced"
    )
    names = [m.name for m in base.models]
    running, _ = with_planned(inventory, plan, names)  # the cluster, once its pods run

    print(
        f"\n{'change':>7} {'reconcile s':>11} {'/ place':>8} {'/ full':>7} {'kept':>5} "
        f"{'added':>5} {'released':>8} {'moved':>5} {'GPUs':>5} {'gap':>4} {'templates':>9} "
        f"{'cms':>4} {'deletes':>7} {'unplaced':>8} solver"
    )
    for kind in ("mixed", "rise"):
        wanted = changed(base, kind)

        def turn(wanted: Demand = wanted) -> ReconcileResult:
            return reconcile(plan, running, wanted, None, settings, 60.0)

        wall_s, result = timed(turn, args.repeat)
        kept = sum(c.kept for c in result.changes)
        added = sum(len(c.added) for c in result.changes)
        released = sum(len(c.released) for c in result.changes)
        moved = sum(len(c.moved) for c in result.changes)
        d = result.diff
        print(
            f"{kind:>7} {wall_s:>11.3f} {wall_s / scratch_s:>7.2f}x {wall_s / full_s:>6.2f}x "
            f"{kept:>5} {added:>5} "
            f"{released:>8} {moved:>5} {result.plan.gpus_used:>5} {result.gap_gpus:>4} "
            f"{len(d.templates):>9} {len(d.configmaps):>4} {len(d.delete):>7} "
            f"{len(result.plan.unplaced):>8} {result.plan.solver or '-'}"
        )

    wanted = changed(base, "mixed")
    overlay_s, (laid, _) = timed(lambda: with_planned(running, plan, names), args.repeat)
    place_s, new = timed(lambda: plan_placement(laid, wanted, options), args.repeat)
    diff_s, _ = timed(lambda: placement_diff(plan, names, new, names, "default"), args.repeat)
    print(
        f"\nparts of the mixed turn (median of {args.repeat}): overlay {overlay_s:.3f} s, "
        f"placement {place_s:.3f} s, diff {diff_s:.3f} s"
    )


if __name__ == "__main__":
    main()
