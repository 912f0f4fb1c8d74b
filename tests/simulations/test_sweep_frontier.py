"""The Pareto frontier and the GPU-hours needed to reach an attainment along it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from simulations.sweep.frontier import gpu_hours_to_reach, pareto_front


@dataclass(frozen=True)
class Point:
    name: str
    gpu_hours: float
    slo_attainment: float


def names(points: list[Point]) -> list[str]:
    return [p.name for p in points]


def test_pareto_keeps_the_cheapest_point_for_each_attainment() -> None:
    points = [
        Point("a", 100, 0.95),
        Point("b", 120, 0.97),
        Point("c", 110, 0.94),  # dominated by a: dearer and worse
        Point("d", 150, 0.99),
        Point("e", 160, 0.99),  # dominated by d: same attainment, dearer
        Point("f", 90, 0.90),
        Point("g", 130, 0.96),  # dominated by b
    ]
    assert names(pareto_front(points)) == ["f", "a", "b", "d"]


def test_pareto_ties_and_edges() -> None:
    assert pareto_front([]) == []
    one = [Point("a", 1, 0.5)]
    assert pareto_front(one) == one
    # Equal GPU-hours: the better attainment wins; exact duplicates keep the first given.
    assert names(pareto_front([Point("a", 10, 0.9), Point("b", 10, 0.95)])) == ["b"]
    assert names(pareto_front([Point("a", 10, 0.9), Point("b", 10, 0.9)])) == ["a"]


FRONT = [Point("a", 100, 0.98), Point("b", 120, 0.99), Point("c", 200, 0.995)]


@pytest.mark.parametrize(
    ("target", "gpu_hours", "how"),
    [
        (0.985, 110.0, "interpolated"),  # halfway between a and b
        (0.99, 120.0, "interpolated"),  # exactly b
        (0.9925, 160.0, "interpolated"),  # halfway between b and c
        (0.98, 100.0, "interpolated"),  # exactly the cheapest
        (0.95, 100.0, "at most"),  # below the cheapest: at most its GPU-hours
        (0.999, None, "never"),
    ],
    ids=["between", "on-point", "upper-segment", "cheapest", "below", "never"],
)
def test_gpu_hours_to_reach(target: float, gpu_hours: float | None, how: str) -> None:
    need = gpu_hours_to_reach(FRONT, target)
    assert need.how == how
    if gpu_hours is None:
        assert need.gpu_hours is None
        assert need.best_slo == 0.995
        assert need.text() == "never (best 99.50 %)"
    else:
        assert need.gpu_hours == pytest.approx(gpu_hours)


def test_needed_text_gives_the_ratio_to_a_reference() -> None:
    assert gpu_hours_to_reach(FRONT, 0.985).text(100.0) == "110.0 GPU-h (1.10x)"
    assert gpu_hours_to_reach(FRONT, 0.95).text(200.0) == "<= 100.0 GPU-h (0.50x)"
    assert gpu_hours_to_reach([], 0.9).how == "never"
