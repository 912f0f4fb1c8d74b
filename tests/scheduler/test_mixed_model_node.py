"""A node with GPUs of two models (rare but legal): each model's free GPUs serve its slices."""

from __future__ import annotations

import pytest

from scheduler.demand import Demand, ModelDemand, PlacementOptions
from scheduler.inventory import Gpu, InstanceType, Inventory, Node
from scheduler.place import plan_placement

MIXED = Node("mixed", "a", "mix", (Gpu("GPU-A100", "A100-80GB"), Gpu("GPU-H100", "H100-80GB")))
SOLVERS = pytest.mark.parametrize("exact_max", [50, 0], ids=["exact", "heuristic"])


@SOLVERS
def test_the_second_models_gpus_on_a_mixed_node_are_used(exact_max: int) -> None:
    demand = Demand((ModelDemand("m", 2, mig_profile="3g.40gb", gpu_models=("H100-80GB",)),))
    plan = plan_placement(
        Inventory((MIXED,)), demand, PlacementOptions(exact_max_replicas=exact_max)
    )
    assert not plan.unplaced
    assert {(a.node, a.gpu) for a in plan.assignments} == {("mixed", "GPU-H100")}


@SOLVERS
def test_a_mixed_node_paid_for_one_model_serves_the_other_before_another_node(
    exact_max: int,
) -> None:
    cheap = Node("cheap", "a", "h100x1", (Gpu("GPU-H100-cheap", "H100-80GB"),))
    types = (
        InstanceType("mix", "a", "A100-80GB", 2, 10.0, 0),
        InstanceType("h100x1", "a", "H100-80GB", 1, 1.0, 0),
    )
    demand = Demand(
        (
            ModelDemand("a", 1, mig_profile="3g.40gb", gpu_models=("A100-80GB",)),
            ModelDemand("h", 1, mig_profile="3g.40gb", gpu_models=("H100-80GB",)),
        )
    )
    options = PlacementOptions(exact_max_replicas=exact_max)
    plan = plan_placement(Inventory((MIXED, cheap), types), demand, options)
    assert {a.model: a.gpu for a in plan.assignments} == {"a": "GPU-A100", "h": "GPU-H100"}
    assert plan.cost_per_hour == pytest.approx(10.0)
