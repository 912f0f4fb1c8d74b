"""Baselines to compare the packer with, in GPUs used. Each keeps running slices in place.

- whole-GPU: one replica per GPU, MIG off (what a plain `nvidia.com/gpu: 1` request does).
- fixed layouts, like nebuly nos: every GPU gets one layout from a fixed list of allowed ones
  (the mig-parted style "all-1g", "4g+3g", "3g+2g+1g+1g", ...), chosen greedily GPU by GPU as
  the layout that serves the most pending replicas; running slices are never deleted, so a GPU
  that has some only takes layouts that contain them where they are. Replicas go to their first
  choice only, as nos has no notion of alternatives.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from scheduler.catalog import WHOLE, GpuSpec, load_catalog
from scheduler.packing.geometry import Geometry, State, geometry
from scheduler.packing.problem import Problem

# Layouts as (compute slices, memory slices) shapes, names resolved per GPU model.
LAYOUTS_8: tuple[tuple[tuple[int, int], ...], ...] = (
    ((7, 8),),
    ((4, 4), (3, 4)),
    ((3, 4), (3, 4)),
    ((4, 4), (2, 2), (1, 2)),
    ((4, 4), (1, 1), (1, 1), (1, 1)),
    ((3, 4), (2, 2), (1, 1), (1, 1)),
    ((3, 4), (1, 1), (1, 1), (1, 1), (1, 1)),
    ((2, 2), (2, 2), (2, 2), (1, 1)),
    ((2, 2), (2, 2), (1, 1), (1, 1), (1, 1)),
    ((1, 2), (1, 2), (1, 2), (1, 2)),
    ((1, 1),) * 7,
)
LAYOUTS_4: tuple[tuple[tuple[int, int], ...], ...] = (
    ((4, 4),),
    ((2, 2), (2, 2)),
    ((2, 2), (1, 1), (1, 1)),
    ((1, 1),) * 4,
)


def whole_gpu_count(problem: Problem) -> int:
    """GPUs used with one replica per GPU: running GPUs plus one per replica."""
    return sum(1 for g in problem.gpus if g.busy) + sum(1 for it in problem.items if it.choices)


def layouts_for(spec: GpuSpec) -> list[tuple[str, ...]]:
    """The fixed layouts as profile names on `spec` (media-extension profiles never used)."""
    by_shape = {
        (p.compute_slices, p.memory_slices): p.name for p in spec.profiles if not p.media_extensions
    }
    table = LAYOUTS_8 if spec.memory_slices == 8 else LAYOUTS_4
    return [
        tuple(by_shape[s] for s in layout) for layout in table if all(s in by_shape for s in layout)
    ]


def fixed_layout_count(problem: Problem) -> tuple[int, int]:
    """(GPUs used, replicas left unplaced) for the nos-like greedy fixed-layout packer."""
    catalog = load_catalog()
    pending: dict[str, Counter[str]] = {}
    for it in problem.items:
        if it.choices:
            c = it.choices[0]
            pending.setdefault(c.gpu_model, Counter())[c.profile] += 1
    used = 0
    # Running GPUs first (nos fills what is there), then empty ones in inventory order.
    order = sorted(range(len(problem.gpus)), key=lambda i: (not problem.gpus[i].busy, i))
    for i in order:
        slot = problem.gpus[i]
        want = pending.get(slot.gpu_model)
        if not want or not +want:
            used += slot.busy
            continue
        geo = geometry(catalog.gpu(slot.gpu_model))
        served = _best_layout(geo, slot.fixed, want)
        if served or slot.busy:
            used += 1
        want.subtract(served)
    unplaced = sum(sum((+c).values()) for c in pending.values())
    return used, unplaced


def _best_layout(
    geo: Geometry, fixed: tuple[tuple[str, int], ...], want: Counter[str]
) -> Counter[str]:
    """Replicas the best compatible layout serves on one GPU (empty Counter: none)."""
    best: Counter[str] = Counter()
    if want[WHOLE] > 0 and not fixed:
        best = Counter({WHOLE: 1})
    running = Counter(p for p, _ in fixed)
    for layout in layouts_for(geo.spec):
        extra = Counter(layout) - running
        if running - Counter(layout) or not _fits(geo, geo.state_of(fixed), _sorted(extra)):
            continue
        served = Counter({p: min(n, want[p]) for p, n in extra.items() if want[p] > 0})
        if sum(served.values()) > sum(best.values()):
            best = served
    return best


def _sorted(counts: Counter[str]) -> tuple[str, ...]:
    return tuple(sorted(counts.elements()))


@lru_cache(maxsize=65536)
def _fits(geo: Geometry, state: State, profiles: tuple[str, ...]) -> bool:
    """Can all `profiles` be added to `state`? A small search, memoised on what is left."""
    if not profiles:
        return True
    first, rest = profiles[0], profiles[1:]
    return any(_fits(geo, geo.place(state, first, s), rest) for s in geo.starts(state, first))
