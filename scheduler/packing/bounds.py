"""A lower bound on the GPUs any plan needs: what a heuristic's gap is measured against.

Per GPU model, over the slices that must sit on it (running ones that stay, and replicas whose
only choice is that model), the bound is the largest of:
- memory: every GPU has M memory slices, and slice i can only be covered by the items whose
  profile can reach it (a 1g slice never covers slice 7 of an 8-slice GPU: no start 7). Each
  item covers slice i on at most one GPU, so N GPUs cover at most sum_i min(N, k_i) slices; the
  bound is the smallest N for which that reaches the total;
- compute: total compute slices / 7 (or 4 on A30), rounded up;
- sharing: a full-size profile (7g, whole GPU) needs a GPU of its own; half-size ones (3g, 4g)
  go at most two to a GPU and a profile at most `max_count` to a GPU (one 4g, one "+me");
- GPUs that hold running slices are used whatever the plan.
Worked number: 10 x 1g.10gb on H100-80GB is 10 memory slices, so ceil(10 / 8) = 2 by memory
alone; the slice rule agrees (k_7 = 0: 7 + 7 >= 10 at N = 2). 16 x 1g.10gb: 16 slices, but only
7 per GPU are reachable, so 3 GPUs, not 2.
Replicas that may go on several GPU models add to a bound over memory fractions of all GPUs.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import replace

from scheduler.catalog import load_catalog
from scheduler.packing.geometry import Geometry, geometry
from scheduler.packing.problem import PackResult, Problem


def lower_bound_gpus(problem: Problem) -> int:
    by_model = model_bounds(problem)
    return max(sum(by_model.values()), _fraction_bound(problem))


def placed_lower_bound(problem: Problem, result: PackResult) -> int:
    """The bound over the replicas `result` placed: what its gap is measured against. Over all
    replicas it would count those no GPU is left for (3 x 7g.80gb, one H100: bound 3, but at
    most 1 GPU can be used), and the gap would go negative."""
    return lower_bound_gpus(replace(problem, items=tuple(p.item for p in result.placed)))


def model_bounds(problem: Problem) -> dict[str, int]:
    """Per GPU model, a lower bound on its GPUs used (running slices plus pinned replicas)."""
    catalog = load_catalog()
    pinned: dict[str, Counter[str]] = defaultdict(Counter)
    busy: Counter[str] = Counter()
    for g in problem.gpus:
        if g.busy:
            busy[g.gpu_model] += 1
            for profile, _ in g.fixed:
                pinned[g.gpu_model][profile] += 1
    for item in problem.items:
        if len(item.choices) == 1:  # one choice = one GPU model (choices differ by model)
            pinned[item.choices[0].gpu_model][item.choices[0].profile] += 1
    return {
        m: max(busy[m], model_bound(geometry(catalog.gpu(m)), pinned[m]))
        for m in set(pinned) | set(busy)
    }


def _fraction_bound(problem: Problem) -> int:
    """Memory in whole GPUs, every replica at its smallest choice."""
    catalog = load_catalog()
    fraction = 0.0
    for g in problem.gpus:
        geo = geometry(catalog.gpu(g.gpu_model))
        fraction += sum(geo.shape(p).memory_slices for p, _ in g.fixed) / geo.memory_slices
    for item in problem.items:
        if item.choices:
            fraction += min(
                geometry(catalog.gpu(c.gpu_model)).shape(c.profile).memory_slices
                / catalog.gpu(c.gpu_model).memory_slices
                for c in item.choices
            )
    return math.ceil(fraction - 1e-9)


def model_bound(geo: Geometry, counts: Counter[str]) -> int:
    """Lower bound for `counts` (profile -> how many) on GPUs of one model."""
    if not counts:
        return 0
    shapes = {p: geo.shape(p) for p in counts}
    total = sum(shapes[p].memory_slices * n for p, n in counts.items())
    compute = sum(shapes[p].compute_slices * n for p, n in counts.items())
    reach = [
        sum(
            n
            for p, n in counts.items()
            if any(s <= i < s + shapes[p].memory_slices for s in shapes[p].starts)
        )
        for i in range(geo.memory_slices)
    ]
    n_memory = math.ceil(total / geo.memory_slices)
    while sum(min(n_memory, k) for k in reach) < total:
        n_memory += 1
    full = sum(n for p, n in counts.items() if shapes[p].memory_slices == geo.memory_slices)
    half = [p for p in counts if 2 * shapes[p].memory_slices == geo.memory_slices]
    n_half = sum(counts[p] for p in half)
    sharing = full + max(
        [math.ceil(n_half / 2)] + [math.ceil(counts[p] / shapes[p].max_count) for p in half]
    )
    capped = max(math.ceil(n / shapes[p].max_count) for p, n in counts.items())
    return max(n_memory, math.ceil(compute / geo.compute_slices), sharing, capped)
