"""Builders for packing problems and an independent checker of MIG geometry for results."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from scheduler.catalog import WHOLE, load_catalog
from scheduler.packing.problem import GpuSlot, Item, PackResult, Problem
from scheduler.sizing import SliceChoice

H100 = "H100-80GB"
MIX = ("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb", WHOLE)
MIX_P = (0.28, 0.04, 0.14, 0.2, 0.2, 0.06, 0.04, 0.04)


def random_problem(rng: np.random.Generator, replicas: int, nodes: int = 8) -> Problem:
    """H100 nodes of 8 GPUs; about a quarter of the nodes run a 3g.40gb at 4 on two GPUs."""
    gpus = []
    for n in range(nodes):
        busy = rng.random() < 0.25
        for i in range(8):
            fixed = (("3g.40gb", 4),) if busy and i < 2 else ()
            gpus.append(GpuSlot(f"n{n}", f"GPU-{n}-{i}", H100, "p5.48xlarge", "a", 55.0, fixed))
    picks = rng.choice(len(MIX), size=replicas, p=MIX_P)
    items = tuple(
        Item(f"r{j}", f"m{j % 3}", (SliceChoice(H100, MIX[picks[j]]),)) for j in range(replicas)
    )
    return Problem(tuple(gpus), items)


def check_result(problem: Problem, result: PackResult) -> None:
    """Raise AssertionError unless every GPU's instances obey the catalog's geometry, every
    running slice is still where it was, and every placed replica is on one of its choices."""
    catalog = load_catalog()
    for i, g in enumerate(problem.gpus):
        assert result.gpus[i].fixed == g.fixed, "a running slice moved"
    per_gpu: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for i, g in enumerate(result.gpus):
        per_gpu[i] += list(g.fixed)
    seen = set()
    for p in result.placed:
        assert p.item.key not in seen, f"{p.item.key} placed twice"
        seen.add(p.item.key)
        gpu = result.gpus[p.gpu]
        from scheduler.sizing import SliceChoice as Choice

        assert Choice(gpu.gpu_model, p.profile) in p.item.choices
        per_gpu[p.gpu].append((p.profile, p.start))
    placed_keys = seen | {it.key for it, _ in result.unplaced}
    assert placed_keys == {it.key for it in problem.items}
    for i, instances in per_gpu.items():
        spec = catalog.gpu(result.gpus[i].gpu_model)
        slices: set[int] = set()
        compute = 0
        counts: Counter[str] = Counter()
        for profile, start in instances:
            if profile == WHOLE:
                assert len(instances) == 1 and start == 0, f"whole GPU {i} shared: {instances}"
                continue
            p = spec.profile(profile)
            assert start in p.starts, f"{profile}@{start} not allowed"
            span = set(p.span(start))
            assert not span & slices, f"GPU {i}: overlap in {instances}"
            slices |= span
            compute += p.compute_slices
            counts[profile] += 1
            assert counts[profile] <= p.max_count, f"GPU {i}: too many {profile}"
        assert compute <= spec.compute_slices, f"GPU {i}: compute {compute}"
