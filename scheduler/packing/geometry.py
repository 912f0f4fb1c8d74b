"""MIG geometry of one GPU model: what can still be placed on a GPU in a given occupancy state.

A state is (mask, compute, limited): bit i of `mask` set = memory slice i taken; `compute` =
compute slices used; `limited` = counts of the profiles whose `max_count` is tighter than the
geometry already makes it (only "+me" in the shipped catalog: seven 1g fit, one 1g+me). States
are small and hashable, so the packer keeps GPUs in buckets by state and asks these (cached)
questions once per state, not once per GPU.

WHOLE (MIG disabled) is modelled as a profile that takes every memory and compute slice at
start 0: it conflicts with any instance, which is exactly the rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from scheduler.catalog import WHOLE, GpuSpec


@dataclass(frozen=True)
class Shape:
    name: str
    memory_slices: int
    compute_slices: int
    starts: tuple[int, ...]
    max_count: int

    def mask(self, start: int) -> int:
        return ((1 << self.memory_slices) - 1) << start


State = tuple[int, int, tuple[int, ...]]


class Geometry:
    def __init__(self, spec: GpuSpec) -> None:
        self.spec = spec
        self.memory_slices = spec.memory_slices
        self.full_mask = (1 << spec.memory_slices) - 1
        self.compute_slices = spec.compute_slices
        shapes = [
            Shape(p.name, p.memory_slices, p.compute_slices, p.starts, p.max_count)
            for p in spec.profiles
        ]
        shapes.append(Shape(WHOLE, spec.memory_slices, spec.compute_slices, (0,), 1))
        self.shapes = {s.name: s for s in shapes}
        self.limited = tuple(s.name for s in shapes if s.max_count < _disjoint_max(s))
        self.empty: State = (0, 0, (0,) * len(self.limited))
        # Placements that stay possible are worth their size squared: keeping one 4-slice
        # hole open beats keeping two 2-slice ones, so small slices go where big ones cannot.
        self._weights = [(s, s.memory_slices**2) for s in shapes if s.name != WHOLE]
        # Slices the smallest profile cannot reach (slice 7: 1g starts stop at 6). Only a few
        # profiles can fill them, so those profiles should be spent there (see heuristic.py).
        smallest = min(shapes, key=lambda s: (s.memory_slices, s.compute_slices))
        reachable = 0
        for start in smallest.starts:
            reachable |= smallest.mask(start)
        self.hard_mask = ((1 << self.memory_slices) - 1) & ~reachable
        self._best_start = lru_cache(maxsize=None)(self._best_start_uncached)
        self._score = lru_cache(maxsize=None)(self._score_uncached)

    def shape(self, profile: str) -> Shape:
        return self.shapes[profile]

    def can_place(self, state: State, profile: str, start: int) -> bool:
        shape = self.shapes[profile]
        mask, compute, limited = state
        if start not in shape.starts or mask & shape.mask(start):
            return False
        if compute + shape.compute_slices > self.compute_slices:
            return False
        if profile in self.limited:
            return limited[self.limited.index(profile)] < shape.max_count
        return True

    def place(self, state: State, profile: str, start: int) -> State:
        shape = self.shapes[profile]
        mask, compute, limited = state
        if profile in self.limited:
            i = self.limited.index(profile)
            limited = limited[:i] + (limited[i] + 1,) + limited[i + 1 :]
        return (mask | shape.mask(start), compute + shape.compute_slices, limited)

    def state_of(self, instances: Iterable[tuple[str, int]]) -> State:
        state = self.empty
        for profile, start in instances:
            state = self.place(state, profile, start)
        return state

    def starts(self, state: State, profile: str) -> list[int]:
        return [s for s in self.shapes[profile].starts if self.can_place(state, profile, s)]

    def best_start(self, state: State, profile: str) -> int | None:
        """The start that leaves the most room for others (None if the profile does not fit).

        Empty H100, 1g.10gb: start 6 keeps 4g@0, 3g@0 and 2g@0/2 possible, so it wins over 0.
        """
        return self._best_start(state, profile)

    def score(self, state: State) -> int:
        """How much can still be placed: sum of size^2 over every (profile, start) that fits."""
        return self._score(state)

    def free_slices(self, state: State) -> int:
        return self.memory_slices - state[0].bit_count()

    def _best_start_uncached(self, state: State, profile: str) -> int | None:
        options = self.starts(state, profile)
        if not options:
            return None
        return max(options, key=lambda s: (self.score(self.place(state, profile, s)), -s))

    def _score_uncached(self, state: State) -> int:
        return sum(
            weight
            for shape, weight in self._weights
            for start in shape.starts
            if self.can_place(state, shape.name, start)
        )


def _disjoint_max(shape: Shape) -> int:
    """Most pairwise non-overlapping placements (greedy by end: optimal for intervals)."""
    count, free_from = 0, 0
    for start in sorted(shape.starts):
        if start >= free_from:
            count, free_from = count + 1, start + shape.memory_slices
    return count


_GEOMETRIES: dict[str, Geometry] = {}


def geometry(spec: GpuSpec) -> Geometry:
    """One Geometry (and its caches) per GPU model per process."""
    if spec.model not in _GEOMETRIES:
        _GEOMETRIES[spec.model] = Geometry(spec)
    return _GEOMETRIES[spec.model]
