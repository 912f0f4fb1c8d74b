"""Packer edge cases: flexible replicas versus pinned ones when capacity is short (heuristic),
and the exact solver's symmetry rows on nodes with GPUs of two models."""

from __future__ import annotations

import pytest

from scheduler.catalog import WHOLE
from scheduler.demand import Demand, ModelDemand, PlacementOptions
from scheduler.inventory import Gpu, InstanceType, Inventory, Node
from scheduler.packing.exact import pack_exact
from scheduler.packing.problem import GpuSlot, Item, Problem
from scheduler.place import plan_placement
from scheduler.sizing import SliceChoice

A100, H100 = "A100-80GB", "H100-80GB"
SOLVERS = pytest.mark.parametrize("exact_max", [50, 0], ids=["exact", "heuristic"])


def _one_each() -> Inventory:
    return Inventory(
        (
            Node("h", "a", "p5", (Gpu("GPU-h-0", H100),)),
            Node("x", "a", "p4", (Gpu("GPU-x-0", A100),)),
        )
    )


@SOLVERS
@pytest.mark.parametrize("pinned", [1, 2], ids=["enough", "short"])
def test_a_flexible_replica_leaves_the_scarce_gpu_to_a_pinned_one(
    exact_max: int, pinned: int
) -> None:
    """Same size: the pinned replica takes the one H100, the flexible one the A100."""
    demand = Demand(
        (
            ModelDemand("a-flex", 1, memory_gib=70, gpu_models=(H100, A100)),
            ModelDemand("b-pinned", pinned, memory_gib=70, gpu_models=(H100,)),
        )
    )
    plan = plan_placement(_one_each(), demand, PlacementOptions(exact_max_replicas=exact_max))
    assert len(plan.unplaced) == pinned - 1
    assert {a.model: a.gpu_model for a in plan.assignments} == {"a-flex": A100, "b-pinned": H100}


@SOLVERS
def test_a_bigger_flexible_replica_leaves_the_scarce_gpu_to_a_smaller_pinned_one(
    exact_max: int,
) -> None:
    """The flexible whole GPU goes first (biggest first) but must not take the only H100."""
    demand = Demand(
        (
            ModelDemand("a-flex", 1, memory_gib=70, gpu_models=(H100, A100)),
            ModelDemand("b-pinned", 1, mig_profile="3g.40gb", gpu_models=(H100,)),
        )
    )
    plan = plan_placement(_one_each(), demand, PlacementOptions(exact_max_replicas=exact_max))
    assert not plan.unplaced
    assert {a.model: a.gpu_model for a in plan.assignments} == {"a-flex": A100, "b-pinned": H100}


def test_a_flexible_replica_keeps_its_preference_when_nothing_is_short() -> None:
    """The heuristic gives up a replica's first choice only for pinned replicas' room."""
    inventory = Inventory(
        (
            Node("h", "a", "p5", (Gpu("GPU-h-0", H100), Gpu("GPU-h-1", H100))),
            Node("x", "a", "p4", (Gpu("GPU-x-0", A100),)),
        )
    )
    demand = Demand(
        (
            ModelDemand("a-flex", 1, memory_gib=70, gpu_models=(H100, A100)),
            ModelDemand("b-pinned", 1, memory_gib=70, gpu_models=(H100,)),
        )
    )
    plan = plan_placement(inventory, demand, PlacementOptions(exact_max_replicas=0))
    assert not plan.unplaced
    assert {a.model: a.gpu_model for a in plan.assignments} == {"a-flex": H100, "b-pinned": H100}


@SOLVERS
def test_using_the_h100_of_a_mixed_node_does_not_count_its_a100(exact_max: int) -> None:
    """The mixed node is paid for (a busy GPU), so both 3g.40gb replicas belong on its H100.
    Before the fix the exact solver counted the node's empty A100 as used whenever its H100
    was, and paid for another node's H100 instead (14/h instead of 10/h)."""
    mixed = Node(
        "mixed",
        "a",
        "mix",
        (
            Gpu("GPU-A100", A100),
            Gpu("GPU-H100", H100),
            Gpu("GPU-A100-busy", A100, in_use=True),
        ),
    )
    other = Node("h2", "a", "h100x1", (Gpu("GPU-H100-2", H100),))
    types = (
        InstanceType("mix", "a", A100, 3, 10.0, 0),
        InstanceType("h100x1", "a", H100, 1, 4.0, 0),
    )
    demand = Demand(
        (
            ModelDemand("h", 1, mig_profile="3g.40gb", gpu_models=(H100,)),
            ModelDemand("f", 1, mig_profile="3g.40gb", gpu_models=(H100, A100)),
        )
    )
    options = PlacementOptions(exact_max_replicas=exact_max)
    plan = plan_placement(Inventory((mixed, other), types), demand, options)
    assert not plan.unplaced
    assert {(a.node, a.gpu) for a in plan.assignments} == {("mixed", "GPU-H100")}
    assert plan.cost_per_hour == pytest.approx(10.0)
    assert plan.solver == ("exact" if exact_max else "heuristic")


def test_idle_nodes_of_one_type_but_different_gpu_models_are_not_interchangeable() -> None:
    """n1 (2 x A100) and n2 (2 x H100) share type, zone, price and GPU count. Ordering them as
    interchangeable (paying n2 forces paying n1) made the solver pay 14.5/h for n3 + n1 when
    n2 alone (10/h) takes both replicas."""
    gpus = (
        GpuSlot("n1", "A-0", A100, "gpu2x", "a", 10.0),
        GpuSlot("n1", "A-1", A100, "gpu2x", "a", 10.0),
        GpuSlot("n2", "H-0", H100, "gpu2x", "a", 10.0),
        GpuSlot("n2", "H-1", H100, "gpu2x", "a", 10.0),
        GpuSlot("n3", "H-2", H100, "h100x1", "a", 4.5),
    )
    items = (
        Item("h-0", "h", (SliceChoice(H100, WHOLE),)),
        Item("f-0", "f", (SliceChoice(H100, WHOLE), SliceChoice(A100, WHOLE))),
    )
    result = pack_exact(Problem(gpus, items))
    assert result is not None and result.proven_optimal
    assert not result.unplaced
    assert {result.gpus[p.gpu].node for p in result.placed} == {"n2"}
    assert result.cost_per_hour() == pytest.approx(10.0)
