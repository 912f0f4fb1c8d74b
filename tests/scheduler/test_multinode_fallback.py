"""Multi-node fallback beyond the primary's alike types: other allowed GPU models and other GPU
counts, and nodes that cannot prove their type and zone."""

from __future__ import annotations

from scheduler.demand import Demand, ModelDemand
from scheduler.inventory import InstanceType, Inventory
from scheduler.place import plan_placement
from tests.scheduler.test_multinode import check_groups, idle_node


def two_nodes(gpus: int = 8, models: tuple[str, ...] = ("H100-80GB", "H200-141GB")) -> ModelDemand:
    return ModelDemand("big", 1, gpus_per_replica=gpus, nodes_per_replica=2, gpu_models=models)


def test_the_next_allowed_gpu_model_is_provisioned_when_the_preferred_one_is_short() -> None:
    types = (
        InstanceType("p5.48xlarge", "a", "H100-80GB", 8, 55.0, 0),
        InstanceType("p5e.48xlarge", "a", "H200-141GB", 8, 79.0, 4),
    )
    model = two_nodes()
    plan = plan_placement(Inventory((), types), Demand((model,)))
    check_groups(plan, model)
    assert not plan.unplaced
    assert {(a.instance_type, a.gpu_model) for a in plan.assignments} == {
        ("p5e.48xlarge", "H200-141GB")
    }
    assert plan.reasons[0] == (
        "big replica 0: a has 0 p5.48xlarge available (needs 2); fell back to "
        "p5e.48xlarge (8 x H200-141GB, not 8 x H100-80GB) in a"
    )


def test_a_type_with_fewer_gpus_that_still_holds_the_share_is_tried() -> None:
    types = (
        InstanceType("big8", "a", "H100-80GB", 8, 55.0, 0),
        InstanceType("small4", "a", "H100-80GB", 4, 27.0, 0),
        InstanceType("small4", "b", "H100-80GB", 4, 27.0, 3),
    )
    model = ModelDemand("mid", 1, gpus_per_replica=4, nodes_per_replica=2)
    plan = plan_placement(Inventory((), types), Demand((model,)))
    check_groups(plan, model)
    assert {(a.instance_type, a.zone) for a in plan.assignments} == {("small4", "b")}
    assert plan.reasons[0] == (
        "mid replica 0: a has 0 big8 available (needs 2); a has 0 small4 available (needs 2); "
        "fell back to small4 (4 x H100-80GB, not 8 x H100-80GB) in b"
    )


def test_alike_types_come_first_then_gpu_models_in_preference_order_not_price() -> None:
    types = (
        InstanceType("p5.48xlarge", "a", "H100-80GB", 8, 55.0, 0),
        InstanceType("p5e.48xlarge", "a", "H200-141GB", 8, 79.0, 2),
        InstanceType("p6-b200.48xlarge", "a", "B200-180GB", 8, 110.0, 2),
        InstanceType("p5-alt", "a", "H100-80GB", 8, 60.0, 2),
    )
    three = ModelDemand(
        "big",
        3,
        gpus_per_replica=8,
        nodes_per_replica=2,
        gpu_models=("H100-80GB", "B200-180GB", "H200-141GB"),
    )
    plan = plan_placement(Inventory((), types), Demand((three,)))
    check_groups(plan, three)
    by_replica = {a.replica: a.instance_type for a in plan.assignments}
    assert by_replica == {
        "big-0": "p5-alt",  # same GPU count and memory as the primary
        "big-1": "p6-b200.48xlarge",  # listed before H200, though dearer
        "big-2": "p5e.48xlarge",
    }


def test_without_gpu_models_the_fallback_never_takes_smaller_gpus() -> None:
    types = (
        InstanceType("p5.48xlarge", "a", "H100-80GB", 8, 55.0, 0),
        InstanceType("a30x8", "a", "A30-24GB", 8, 20.0, 4),
        InstanceType("p5en", "a", "H200-141GB", 8, 80.0, 2),
    )
    model = ModelDemand("big", 1, gpus_per_replica=8, nodes_per_replica=2)
    plan = plan_placement(Inventory((), types), Demand((model,)))
    assert {a.gpu_model for a in plan.assignments} == {"H200-141GB"}
    only_a30 = Inventory((), types[:2])
    plan = plan_placement(only_a30, Demand((model,)))
    assert not plan.assignments and len(plan.unplaced) == 1


def test_unlabelled_nodes_never_share_a_multi_node_replica_and_the_plan_says_why() -> None:
    nodes = (
        idle_node("gpu-h100", "", "", "H100-80GB"),
        idle_node("gpu-a100", "", "", "A100-80GB"),
        idle_node("gpu-h100-b", "", "", "H100-80GB"),
    )
    model = ModelDemand("big", 1, gpus_per_replica=8, nodes_per_replica=2)
    plan = plan_placement(Inventory(nodes, ()), Demand((model,)))
    assert not plan.assignments
    assert "gpu-h100, gpu-a100, gpu-h100-b lack a zone or instance-type label" in (
        plan.unplaced[0].reason
    )
    assert plan.reasons[0] == (
        "big: gpu-h100, gpu-a100, gpu-h100-b not used: a node without a zone and an "
        "instance-type label cannot be matched to the others of a 2-node replica "
        "(one type, one zone)"
    )
    # One node is a shape of its own: a single-node replica may still use it.
    single = ModelDemand("one", 1, gpus_per_replica=8, gpu_models=("H100-80GB",))
    plan = plan_placement(Inventory(nodes, ()), Demand((single,)))
    assert {a.node for a in plan.assignments} == {"gpu-h100"}
    assert not any("label" in r for r in plan.reasons)


def test_nodes_of_one_type_and_zone_with_different_gpu_models_are_not_pooled() -> None:
    # A hand-written (or mis-labelled) inventory: the same type label on two GPU models.
    nodes = (
        idle_node("x1", "a", "p5.48xlarge", "H100-80GB"),
        idle_node("x2", "a", "p5.48xlarge", "A100-80GB"),
    )
    types = (InstanceType("p5.48xlarge", "a", "H100-80GB", 8, 55.0, 1),)
    model = two_nodes(models=("H100-80GB", "A100-80GB"))
    plan = plan_placement(Inventory(nodes, types), Demand((model,)))
    check_groups(plan, model)
    assert {a.node for a in plan.assignments} == {"x1", "new:p5.48xlarge:a:0"}
    assert {a.gpu_model for a in plan.assignments} == {"H100-80GB"}


def test_an_idle_node_of_another_gpu_model_does_not_join_a_provisioned_pool() -> None:
    # x2 claims to be a p5 but holds A100s: a new p5 is not paired with it.
    nodes = (idle_node("x2", "a", "p5.48xlarge", "A100-80GB"),)
    types = (InstanceType("p5.48xlarge", "a", "H100-80GB", 8, 55.0, 1),)
    model = two_nodes(models=("H100-80GB", "A100-80GB"))
    plan = plan_placement(Inventory(nodes, types), Demand((model,)))
    assert not plan.assignments
    assert "a has 1 p5.48xlarge available (needs 2)" in plan.unplaced[0].reason
