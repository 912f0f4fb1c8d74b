"""A family's cost/SLO frontier, and what it costs to reach a given SLO attainment on it.

The frontier is the Pareto set over (GPU-hours: lower is better, SLO attainment: higher is
better): the lowest GPU-hours for each attainment reached. Sorted by GPU-hours, each
frontier point attains strictly more than every cheaper one.

"GPU-hours needed to reach attainment s" interpolates linearly between the two frontier
points around s. Worked number: frontier (100 GPU-h, 98 %) and (120 GPU-h, 99 %); s = 98.5 %
needs 100 + (98.5 - 98) / (99 - 98) x 20 = 110 GPU-h. Below the cheapest point the frontier
says nothing finer than "at most" the cheapest point's GPU-hours; above the best it is never
reached (within the swept values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar


class Scored(Protocol):
    @property
    def gpu_hours(self) -> float: ...

    @property
    def slo_attainment(self) -> float: ...


P = TypeVar("P", bound=Scored)


def pareto_front(points: Sequence[P]) -> list[P]:
    """The non-dominated points, by increasing GPU-hours (and so increasing attainment).
    Of two points with equal numbers the first given is kept."""
    ranked = sorted(
        enumerate(points), key=lambda ip: (ip[1].gpu_hours, -ip[1].slo_attainment, ip[0])
    )
    front: list[P] = []
    for _, point in ranked:
        if not front or point.slo_attainment > front[-1].slo_attainment:
            front.append(point)
    return front


@dataclass(frozen=True)
class Needed:
    """GPU-hours a frontier needs for an attainment. `how`: "interpolated" between two
    frontier points, "at most" (even the cheapest point attains it), or "never" (the best
    point attains `best_slo` < the target; `gpu_hours` is None)."""

    gpu_hours: float | None
    how: Literal["interpolated", "at most", "never"]
    best_slo: float

    def text(self, reference_gpu_hours: float | None = None) -> str:
        """`1,234 GPU-h (1.05x)`, `<= 80.0 GPU-h (0.90x)` or `never (best 97.30 %)`."""
        if self.gpu_hours is None:
            return f"never (best {self.best_slo * 100:.2f} %)"
        prefix = "<= " if self.how == "at most" else ""
        ratio = ""
        if reference_gpu_hours:
            ratio = f" ({self.gpu_hours / reference_gpu_hours:.2f}x)"
        return f"{prefix}{self.gpu_hours:,.1f} GPU-h{ratio}"


def gpu_hours_to_reach(front: Sequence[Scored], slo_attainment: float) -> Needed:
    """Interpolates along `front` (as `pareto_front` returns it) for `slo_attainment`."""
    if not front:
        return Needed(None, "never", 0.0)
    best = front[-1].slo_attainment
    if best < slo_attainment:
        return Needed(None, "never", best)
    if front[0].slo_attainment == slo_attainment:
        return Needed(front[0].gpu_hours, "interpolated", best)
    if front[0].slo_attainment > slo_attainment:
        return Needed(front[0].gpu_hours, "at most", best)
    for lower, upper in zip(front, front[1:], strict=False):
        if upper.slo_attainment >= slo_attainment:
            share = (slo_attainment - lower.slo_attainment) / (
                upper.slo_attainment - lower.slo_attainment
            )
            gpu = lower.gpu_hours + share * (upper.gpu_hours - lower.gpu_hours)
            return Needed(gpu, "interpolated", best)
    raise AssertionError("unreachable: the best point attains the target")
