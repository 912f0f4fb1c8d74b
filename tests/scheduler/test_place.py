"""`plan_placement` end to end on the example inputs and on small hand-made clusters."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.demand import Demand, ModelDemand, PlacementOptions, load_demand
from scheduler.inventory import Gpu, InstanceType, Inventory, MigInstance, Node, load_inventory
from scheduler.kubernetes.placement import model_placements
from scheduler.kubernetes.plan_file import plan_from_json
from scheduler.place import plan_placement

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "placement"
H100 = "H100-80GB"


@pytest.fixture(scope="module")
def example_plan():  # type: ignore[no-untyped-def]
    inventory = load_inventory(EXAMPLES / "inventory.yaml")
    return inventory, plan_placement(inventory, load_demand(EXAMPLES / "demand.yaml"))


def test_example_plan_keeps_running_slices_and_places_everything(example_plan) -> None:  # type: ignore[no-untyped-def]
    inventory, plan = example_plan
    assert not plan.unplaced
    assert plan.solver == "exact" and plan.moves == 0
    kept = {(a.gpu, a.profile, a.start) for a in plan.assignments if a.kept}
    running = {
        (g.uuid, m.profile, m.start)
        for n in inventory.nodes
        for g in n.gpus
        for m in g.mig
        if m.in_use and m.model
    }
    assert kept == running
    # The other team's 1g.10gb at slice 0 of the first GPU: nothing new may take slice 0.
    first = inventory.nodes[0].gpus[0].uuid
    on_first = [a for a in plan.assignments if a.gpu == first]
    assert all(a.start and a.start > 0 for a in on_first)
    counts = {m.name: m.replicas for m in load_demand(EXAMPLES / "demand.yaml").models}
    replicas = {(a.model, a.replica) for a in plan.assignments}
    for model, n in counts.items():
        assert sum(1 for m, _ in replicas if m == model) == n, model


def test_example_plan_cost_counts_each_used_node_once(example_plan) -> None:  # type: ignore[no-untyped-def]
    inventory, plan = example_plan
    nodes = {a.node for a in plan.assignments}
    expected = 0.0
    for node in nodes:
        if node.startswith("new:"):
            _, itype, zone, _ = node.split(":")
        else:
            n = next(x for x in inventory.nodes if x.name == node)
            itype, zone = n.instance_type, n.zone
        expected += inventory.price_per_hour(itype, zone) or 0.0
    assert plan.cost_per_hour == pytest.approx(expected)
    # From demand.yaml: llama-3.1-405b takes 2 replicas x 2 nodes x 8 = 32 whole GPUs, and
    # llama-3.1-70b 2 more (75 GiB fits no slice). The slices fill eighths of an 80 GB GPU:
    # 5 x 3g.40gb (4/8) + 4 x 2g.20gb (2/8) + 6 x 1g.10gb (1/8), plus the other team's
    # 1g.10gb, is 35/8 -> at least 5 GPUs, which the exact solver reaches: 39 in all.
    assert plan.gpus_used == 2 * 2 * 8 + 2 + 5
    assert plan.lower_bound_gpus == plan.gpus_used  # proved optimal: the bound is the plan
    # The same count from the assignments: each existing GPU once, however many slices it
    # holds; on a node still to be provisioned (gpu "") each assignment is a whole GPU.
    existing = {(a.node, a.gpu) for a in plan.assignments if not a.node.startswith("new:")}
    new = [a for a in plan.assignments if a.node.startswith("new:")]
    assert all(a.profile == "whole" for a in new)
    assert plan.gpus_used == len(existing) + len(new)


def test_example_plan_is_what_the_kubernetes_side_accepts(example_plan) -> None:  # type: ignore[no-untyped-def]
    _, plan = example_plan
    again = plan_from_json(plan.to_json())
    assert again.assignments == plan.assignments
    placements = model_placements(again)
    assert placements["llama-3.1-405b"].groups  # two nodes per replica, one group each
    assert any("fell back to p5.48xlarge in us-east-1b" in r for r in plan.reasons)


def _gpu(uuid: str, *mig: MigInstance) -> Gpu:
    return Gpu(uuid, H100, tuple(mig))


def _node(name: str, *gpus: Gpu) -> Node:
    return Node(name, "a", "p5", gpus)


def test_defragment_moves_only_when_it_frees_a_gpu() -> None:
    running = lambda start, r: MigInstance("3g.40gb", start, True, "m", r)  # noqa: E731
    inventory = Inventory(
        (_node("n", _gpu("g0", running(4, "m-0")), _gpu("g1", running(4, "m-1"))),),
        (InstanceType("p5", "a", H100, 8, 50.0, 0),),
    )
    demand = Demand((ModelDemand("m", 2, mig_profile="3g.40gb"),))
    still = plan_placement(inventory, demand)
    assert still.gpus_used == 2 and still.moves == 0
    assert all(a.kept for a in still.assignments)
    moved = plan_placement(inventory, demand, PlacementOptions(allow_defragment=True))
    assert moved.gpus_used == 1 and moved.moves == 1
    assert {a.gpu for a in moved.assignments} == {"g0"} or {a.gpu for a in moved.assignments} == {
        "g1"
    }
    assert any("frees 1 GPU" in r for r in moved.reasons)
    # Nothing to gain: a third replica fills the gap, so no slice moves.
    fuller = Demand((ModelDemand("m", 4, mig_profile="3g.40gb"),))
    plan = plan_placement(inventory, fuller, PlacementOptions(allow_defragment=True))
    assert plan.moves == 0 and plan.gpus_used == 2
    assert any("would free no GPU" in r for r in plan.reasons)


def test_surplus_running_replicas_are_released_and_unlabelled_ones_stay() -> None:
    inventory = Inventory(
        (
            _node(
                "n",
                _gpu(
                    "g0",
                    MigInstance("3g.40gb", 0, True, "m", "m-0"),
                    MigInstance("3g.40gb", 4, True, "m", "m-1"),
                ),
                _gpu("g1", MigInstance("1g.10gb", 0, True)),
            ),
        ),
    )
    plan = plan_placement(inventory, Demand((ModelDemand("m", 1, mig_profile="3g.40gb"),)))
    assert [(a.replica, a.kept) for a in plan.assignments] == [("m-0", True)]
    assert any("surplus" in r for r in plan.reasons)
    assert plan.gpus_used == 2  # g1 keeps the unlabelled slice


def test_provisions_when_existing_gpus_are_full_and_reports_unplaced() -> None:
    full = _gpu("g0", MigInstance("7g.80gb", 0, True))
    old = Node("n", "a", "p5-legacy", (full,))  # a type no longer listed: no price
    inventory = Inventory((old,), (InstanceType("p5", "b", H100, 8, 50.0, 1),))
    plan = plan_placement(inventory, Demand((ModelDemand("m", 9, memory_gib=75),)))
    new = {a.node for a in plan.assignments}
    assert new == {"new:p5:b:0"}
    assert len(plan.assignments) == 8 and len(plan.unplaced) == 1
    assert plan.cost_per_hour == pytest.approx(50.0)
    assert any("no price" in r for r in plan.reasons)


def test_too_big_for_any_gpu_is_unplaced_with_advice() -> None:
    plan = plan_placement(Inventory(), Demand((ModelDemand("huge", 1, memory_gib=500),)))
    assert plan.unplaced[0].reason == "no allowed GPU model fits 500 GiB"
    assert any("give gpus_per_replica" in r for r in plan.reasons)


def test_large_demand_uses_the_heuristic_and_reports_the_gap() -> None:
    nodes = tuple(_node(f"n{i}", *(_gpu(f"g{i}-{j}") for j in range(8))) for i in range(10))
    demand = Demand((ModelDemand("m", 60, mig_profile="1g.10gb"),))
    plan = plan_placement(Inventory(nodes), demand, PlacementOptions(exact_max_replicas=50))
    assert plan.solver == "heuristic"
    assert plan.gpus_used == 9 == plan.lower_bound_gpus  # 60 / 7 per GPU
    assert any("heuristic" in r and "gap 0.0 %" in r for r in plan.reasons)


def test_the_option_overrides_the_demands_allow_defragment() -> None:
    running = lambda start, r: MigInstance("3g.40gb", start, True, "m", r)  # noqa: E731
    inventory = Inventory(
        (_node("n", _gpu("g0", running(4, "m-0")), _gpu("g1", running(4, "m-1"))),)
    )
    demand = Demand((ModelDemand("m", 2, mig_profile="3g.40gb"),), allow_defragment=True)
    assert plan_placement(inventory, demand).moves == 1  # no option: the demand decides
    refused = plan_placement(inventory, demand, PlacementOptions(allow_defragment=False))
    assert refused.moves == 0 and refused.gpus_used == 2


def test_whole_gpu_replicas_alone_name_no_solver() -> None:
    # Nothing went through the slice packer, so neither "exact" nor "heuristic" is true.
    inventory = Inventory((_node("n", *(_gpu(f"g{i}") for i in range(8))),))
    demand = Demand((ModelDemand("big", 1, gpus_per_replica=8),))
    plan = plan_placement(inventory, demand)
    assert len(plan.assignments) == 8 and not plan.unplaced
    assert plan.solver == ""
    assert plan.gpus_used == plan.lower_bound_gpus == 8
    assert not any("heuristic" in r for r in plan.reasons)
