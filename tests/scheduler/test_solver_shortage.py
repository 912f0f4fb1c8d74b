"""Capacity short of the demand: the exact solver still maximises the replicas placed, the
lower bound counts only placed replicas (gap never negative), and a solver failure is named."""

from __future__ import annotations

import pytest
from scipy.optimize import OptimizeResult

from scheduler.catalog import WHOLE
from scheduler.demand import Demand, ModelDemand, PlacementOptions
from scheduler.inventory import Gpu, Inventory, Node
from scheduler.packing import exact as exact_module
from scheduler.packing.exact import pack_exact, try_pack_exact
from scheduler.packing.problem import GpuSlot, Item, Problem
from scheduler.place import plan_placement
from scheduler.sizing import SliceChoice
from tests.scheduler.helpers import H100, check_result

A100 = "A100-80GB"


def _short_problem() -> Problem:
    """One H100 and one A100; `flex` may use either, two `pinned` need the H100 (whole)."""
    gpus = (
        GpuSlot("h", "gh", H100, "p5", "a", 1.0),
        GpuSlot("x", "gx", A100, "p4", "a", 1.0),
    )
    flex = Item("flex-0", "flex", (SliceChoice(H100, WHOLE), SliceChoice(A100, WHOLE)))
    pinned = tuple(Item(f"pinned-{i}", "pinned", (SliceChoice(H100, WHOLE),)) for i in range(2))
    return Problem(gpus, (flex, *pinned))


def test_exact_places_as_many_as_fit_when_a_pinned_model_is_short() -> None:
    problem = _short_problem()
    result = pack_exact(problem)
    assert result is not None and result.proven_optimal
    check_result(problem, result)
    where = {p.item.key: result.gpus[p.gpu].gpu_model for p in result.placed}
    assert where == {"flex-0": A100, "pinned-0": H100} or where == {
        "flex-0": A100,
        "pinned-1": H100,
    }
    assert len(result.unplaced) == 1


def _inventory(*nodes: tuple[str, str, int]) -> Inventory:
    return Inventory(
        tuple(
            Node(name, "a", "p5", tuple(Gpu(f"{name}-{i}", model) for i in range(n)))
            for name, model, n in nodes
        )
    )


def test_plan_loses_no_replica_and_is_proven_when_capacity_is_short() -> None:
    inventory = _inventory(("h", H100, 1), ("x", A100, 1))
    demand = Demand(
        (
            ModelDemand("a-flex", 1, memory_gib=70, gpu_models=(H100, A100)),
            ModelDemand("b-pinned", 2, memory_gib=70, gpu_models=(H100,)),
        )
    )
    plan = plan_placement(inventory, demand)
    assert plan.solver == "exact"
    assert [u.replica for u in plan.unplaced] in (["b-pinned-0"], ["b-pinned-1"])
    assert {a.gpu_model for a in plan.assignments} == {H100, A100}
    assert plan.lower_bound_gpus == plan.gpus_used == 2


@pytest.mark.parametrize("exact_max_replicas", [50, 0], ids=["exact", "heuristic"])
def test_lower_bound_counts_only_placed_replicas(exact_max_replicas: int) -> None:
    # Three full-size slices, one H100: any plan uses 1 GPU; a bound of 3 would be a -67 % gap.
    demand = Demand((ModelDemand("m", 3, mig_profile="7g.80gb"),))
    plan = plan_placement(
        _inventory(("n", H100, 1)), demand, PlacementOptions(exact_max_replicas=exact_max_replicas)
    )
    assert len(plan.unplaced) == 2
    assert plan.gpus_used == plan.lower_bound_gpus == 1
    assert not any("-" in r.partition("gap ")[2] for r in plan.reasons), plan.reasons
    if exact_max_replicas == 0:
        assert any("gap 0.0 %" in r for r in plan.reasons), plan.reasons


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (1, "Time limit reached.", "exact solver hit its time limit (10 s) before finding a plan"),
        (2, "The problem is infeasible.", "exact solver found its model infeasible"),
    ],
    ids=["time-limit", "infeasible"],
)
def test_no_exact_plan_says_why(
    monkeypatch: pytest.MonkeyPatch, status: int, message: str, expected: str
) -> None:
    def no_plan(*_: object, **__: object) -> OptimizeResult:
        return OptimizeResult(x=None, status=status, message=message, success=False)

    monkeypatch.setattr(exact_module, "milp", no_plan)
    outcome = try_pack_exact(_short_problem(), time_limit_s=10)
    assert isinstance(outcome, str) and outcome.startswith(expected), outcome
    # plan_placement falls back to the heuristic and gives that reason, not a guess.
    demand = Demand((ModelDemand("m", 2, mig_profile="3g.40gb"),))
    plan = plan_placement(_inventory(("n", H100, 1)), demand)
    assert plan.solver == "heuristic"
    assert any(r.startswith(f"heuristic ({expected}") for r in plan.reasons), plan.reasons
