"""MIG geometry, the exact and heuristic packers, the lower bound and the baselines."""

from __future__ import annotations

import numpy as np
import pytest

from scheduler.catalog import WHOLE, load_catalog
from scheduler.packing.baselines import fixed_layout_count, whole_gpu_count
from scheduler.packing.bounds import lower_bound_gpus
from scheduler.packing.exact import pack_exact
from scheduler.packing.geometry import geometry
from scheduler.packing.heuristic import pack_heuristic
from scheduler.packing.problem import GpuSlot, Item, Problem
from scheduler.sizing import SliceChoice
from tests.scheduler.helpers import H100, check_result, random_problem

GEO = geometry(load_catalog().gpu(H100))


def state(*instances: tuple[str, int]) -> tuple[int, int, tuple[int, ...]]:
    return GEO.state_of(instances)


@pytest.mark.parametrize(
    ("placed", "profile", "start", "fits"),
    [
        ((("4g.40gb", 0),), "3g.40gb", 4, True),  # allowed since R510
        ((("3g.40gb", 4),), "2g.20gb", 4, False),  # overlaps slices 4-5
        ((("3g.40gb", 4),), "2g.20gb", 2, True),
        ((("1g.10gb+me", 0),), "1g.10gb+me", 1, False),  # one +me per GPU
        ((("1g.10gb+me", 0),), "1g.10gb", 1, True),
        ((("2g.20gb", 0), ("2g.20gb", 2), ("2g.20gb", 4)), "1g.20gb", 6, True),
        ((("3g.40gb", 0), ("3g.40gb", 4)), "1g.10gb", 6, False),
        ((), "1g.10gb", 7, False),  # no 1g start at 7
        ((("1g.20gb", 0),), WHOLE, 0, False),
    ],
    ids=[
        "4g+3g",
        "overlap",
        "beside",
        "two-me",
        "me+plain",
        "2gx3+1g.20gb",
        "full",
        "start-7",
        "whole-on-mig",
    ],
)
def test_geometry(
    placed: tuple[tuple[str, int], ...], profile: str, start: int, fits: bool
) -> None:
    assert GEO.can_place(state(*placed), profile, start) is fits


def test_compute_slices_are_a_limit_of_their_own() -> None:
    # 4g (4 compute) + 2g (2) + 1g (1) = 7 compute on 7 memory slices: nothing more fits,
    # although memory slice 7 is free (and reachable by 1g.20gb at 6 were compute left).
    s = state(("4g.40gb", 0), ("2g.20gb", 4), ("1g.10gb", 6))
    assert GEO.free_slices(s) == 1
    assert not GEO.starts(s, "1g.10gb") and not GEO.starts(s, "1g.20gb")


def test_small_slices_go_where_big_ones_cannot() -> None:
    assert GEO.best_start(GEO.empty, "1g.10gb") == 6  # keeps 4g@0 and 3g@0 possible
    assert GEO.best_start(GEO.empty, "3g.40gb") == 4  # keeps 4g@0 possible


@pytest.mark.parametrize(
    ("profiles", "bound"),
    [
        (["1g.10gb"] * 10, 2),
        (["1g.10gb"] * 16, 3),  # slice 7 is out of a 1g's reach: 7 per GPU, not 8
        (["1g.20gb"] * 8, 2),
        (["4g.40gb"] * 3, 3),  # one 4g per GPU
        (["3g.40gb"] * 3 + ["4g.40gb"], 2),
        (["7g.80gb", WHOLE, "1g.10gb"], 3),
        (["2g.20gb"] * 7, 3),  # 14 compute slices over 7 per GPU, and 2g cannot start at 6
    ],
    ids=["10x1g", "16x1g", "8x1g.20gb", "3x4g", "3x3g+4g", "full-size", "7x2g"],
)
def test_lower_bound(profiles: list[str], bound: int) -> None:
    gpus = tuple(GpuSlot("n", f"g{i}", H100, "p5", "a", 1.0) for i in range(16))
    items = tuple(Item(f"r{i}", "m", (SliceChoice(H100, p),)) for i, p in enumerate(profiles))
    problem = Problem(gpus, items)
    assert lower_bound_gpus(problem) == bound
    exact = pack_exact(problem)
    assert exact is not None and exact.proven_optimal
    assert exact.gpus_used == bound  # these bounds are tight


def test_exact_is_optimal_and_the_heuristic_is_checked_against_it() -> None:
    """Random instances up to 50 replicas: HiGHS proves its GPU count; nothing beats it; the
    heuristic (used above the ILP's size) is never better and is valid."""
    rng = np.random.default_rng(20251123)
    gaps = []
    for _ in range(6):
        problem = random_problem(rng, int(rng.integers(5, 51)))
        exact = pack_exact(problem, time_limit_s=20)
        heuristic = pack_heuristic(problem)
        assert exact is not None and exact.proven_optimal
        check_result(problem, exact)
        check_result(problem, heuristic)
        assert not exact.unplaced and not heuristic.unplaced
        assert lower_bound_gpus(problem) <= exact.gpus_used <= heuristic.gpus_used
        assert exact.gpus_used <= whole_gpu_count(problem)
        assert exact.gpus_used <= fixed_layout_count(problem)[0] + fixed_layout_count(problem)[1]
        gaps.append(heuristic.gpus_used - exact.gpus_used)
    assert max(gaps) <= 2, gaps


def test_exact_beats_a_greedy_that_opens_too_early() -> None:
    # 3g.40gb x2 + 4g.40gb x2: 4g@0+3g@4 twice = 2 GPUs; 3g+3g then 4g, 4g alone = 3 GPUs.
    gpus = tuple(GpuSlot("n", f"g{i}", H100, "p5", "a", 1.0) for i in range(8))
    profiles = ["3g.40gb", "3g.40gb", "4g.40gb", "4g.40gb"]
    problem = Problem(
        gpus, tuple(Item(f"r{i}", "m", (SliceChoice(H100, p),)) for i, p in enumerate(profiles))
    )
    exact = pack_exact(problem)
    assert exact is not None and exact.gpus_used == 2
    assert {(p.profile, p.start) for p in exact.placed} == {("4g.40gb", 0), ("3g.40gb", 4)}


def test_running_slices_stay_and_are_filled_around() -> None:
    gpus = (
        GpuSlot("n", "g0", H100, "p5", "a", 1.0, (("3g.40gb", 4),)),
        GpuSlot("n", "g1", H100, "p5", "a", 1.0),
    )
    items = tuple(Item(f"r{i}", "m", (SliceChoice(H100, "2g.20gb"),)) for i in range(2))
    problem = Problem(gpus, items)
    for result in (pack_heuristic(problem), pack_exact(problem)):
        assert result is not None
        check_result(problem, result)
        assert result.gpus_used == 1
        assert sorted(p.start for p in result.placed) == [0, 2]


def test_large_fleet_heuristic_within_two_percent_of_the_bound() -> None:
    rng = np.random.default_rng(7)
    models = ("H100-80GB", "A100-80GB")
    gpus = []
    for n in range(250):
        model = models[n % 2]
        busy = rng.random() < 0.1
        for i in range(8):
            fixed = (("3g.40gb", 4),) if busy and i < 4 else ()
            gpus.append(GpuSlot(f"node{n}", f"u{n}-{i}", model, "t", "a", 10.0, fixed))
    profiles = ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"]
    picks = rng.choice(len(profiles), size=5000, p=[0.3, 0.15, 0.2, 0.25, 0.05, 0.05])
    where = rng.integers(0, 2, size=5000)
    items = tuple(
        Item(f"r{j}", f"m{j % 20}", (SliceChoice(models[where[j]], profiles[picks[j]]),))
        for j in range(5000)
    )
    problem = Problem(tuple(gpus), items)
    result = pack_heuristic(problem)
    bound = lower_bound_gpus(problem)
    assert not result.unplaced
    assert result.gpus_used <= bound * 1.02, (result.gpus_used, bound)
    check_result(problem, result)


def test_heuristic_provisions_cheapest_per_gpu_and_respects_available() -> None:
    from scheduler.inventory import InstanceType
    from scheduler.packing.problem import Provision

    cheap = InstanceType("p4de", "a", "A100-80GB", 8, 27.0, available=1)
    dear = InstanceType("p4d-big", "a", "A100-80GB", 8, 40.0, available=5)
    items = tuple(Item(f"r{i}", "m", (SliceChoice("A100-80GB", WHOLE),)) for i in range(10))
    problem = Problem((), items, (Provision(cheap, 1), Provision(dear, 5)))
    result = pack_heuristic(problem)
    nodes = sorted({result.gpus[p.gpu].node for p in result.placed})
    assert nodes == ["new:p4d-big:a:0", "new:p4de:a:0"]
    assert result.gpus_used == 10


def test_defragment_empties_a_gpu_only_by_moving_all_of_it() -> None:
    gpus = tuple(GpuSlot("n", f"g{i}", H100, "p5", "a", 1.0) for i in range(3))
    home = [(0, "3g.40gb", 4), (1, "3g.40gb", 4), (2, "1g.10gb", 0)]
    items = tuple(
        Item(f"r{i}", "m", (SliceChoice(H100, h[1]),), home=h) for i, h in enumerate(home)
    )
    problem = Problem(gpus, items)
    still = pack_heuristic(problem)
    assert still.gpus_used == 3 and still.moves == 0
    moved = pack_heuristic(problem, defragment=True)
    check_result(problem, moved)
    assert moved.gpus_used == 2 and moved.moves == 1
    exact = pack_exact(problem)
    assert exact is not None and exact.gpus_used == 2 and exact.moves == 1
