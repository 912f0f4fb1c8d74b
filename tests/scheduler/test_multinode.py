"""Multi-node replicas: one instance type and one zone per replica, ordered, explained fallback."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from scheduler.demand import Demand, ModelDemand
from scheduler.inventory import Gpu, InstanceType, Inventory, Node
from scheduler.place import plan_placement
from scheduler.plan import Plan

BIG = ModelDemand(
    "llama-405b", replicas=2, gpus_per_replica=8, nodes_per_replica=2, gpu_models=("H100-80GB",)
)
P5 = "p5.48xlarge"


def idle_node(
    name: str, zone: str, itype: str = P5, model: str = "H100-80GB", gpus: int = 8
) -> Node:
    return Node(name, zone, itype, tuple(Gpu(f"{name}-g{i}", model) for i in range(gpus)))


def p5(
    zone: str, available: int, name: str = P5, model: str = "H100-80GB", price: float = 55.0
) -> InstanceType:
    return InstanceType(name, zone, model, 8, price, available)


def groups(plan: Plan) -> dict[str, dict[str, list[tuple[str, str, str]]]]:
    out: dict[str, dict[str, list[tuple[str, str, str]]]] = defaultdict(lambda: defaultdict(list))
    for a in plan.assignments:
        out[a.replica][a.node].append((a.instance_type, a.zone, a.gpu_model))
    return out


def check_groups(plan: Plan, model: ModelDemand) -> None:
    for replica, nodes in groups(plan).items():
        shapes = {s for share in nodes.values() for s in share}
        assert len(shapes) == 1, f"{replica} mixes {shapes}"
        if model.nodes_per_replica > 1:  # an unlabelled node cannot show it matches the others
            assert all(itype and zone for itype, zone, _ in shapes), f"{replica}: {shapes}"
        assert len(nodes) == model.nodes_per_replica, replica
        assert all(len(share) == model.gpus_per_replica for share in nodes.values()), replica
    gpus = [(a.node, a.gpu) for a in plan.assignments if a.gpu]
    assert len(gpus) == len(set(gpus)), "a GPU given twice"


def test_zone_short_falls_back_to_the_next_zone_and_says_why() -> None:
    inventory = Inventory((), (p5("us-east-1a", 0), p5("us-east-1b", 4)))
    plan = plan_placement(inventory, Demand((BIG,)))
    check_groups(plan, BIG)
    assert {a.zone for a in plan.assignments} == {"us-east-1b"}
    assert not plan.unplaced
    assert plan.reasons[0] == (
        "llama-405b replica 0: us-east-1a has 0 p5.48xlarge available (needs 2); "
        "fell back to p5.48xlarge in us-east-1b"
    )
    assert all(
        a.node.startswith("new:p5.48xlarge:us-east-1b:") and a.gpu == "" for a in plan.assignments
    )
    assert plan.cost_per_hour == pytest.approx(4 * 55.0)


def test_existing_idle_nodes_first_then_a_zone_outage_moves_new_groups() -> None:
    types = (p5("us-east-1a", 2), p5("us-east-1b", 2))
    nodes = (idle_node("a1", "us-east-1a"), idle_node("a2", "us-east-1a"))
    before = plan_placement(Inventory(nodes, types), Demand((BIG,)))
    check_groups(before, BIG)
    replica_zero = {a.node for a in before.assignments if a.replica == "llama-405b-0"}
    assert replica_zero == {"a1", "a2"}  # the idle nodes, before anything is provisioned
    assert {a.zone for a in before.assignments} == {"us-east-1a"}
    # us-east-1a goes down: its nodes vanish and nothing can be provisioned there.
    outage = Inventory((), (p5("us-east-1a", 0), p5("us-east-1b", 4)))
    after = plan_placement(outage, Demand((BIG,)))
    check_groups(after, BIG)
    assert {a.zone for a in after.assignments} == {"us-east-1b"}
    assert sum("fell back to p5.48xlarge in us-east-1b" in r for r in after.reasons) == 2


def test_type_fallback_needs_same_gpu_count_and_memory_cheapest_first() -> None:
    types = (
        p5("us-east-1a", 0),
        InstanceType("p5e.48xlarge", "us-east-1a", "H200-141GB", 8, 70.0, 9),  # other memory
        p5("us-east-1a", 9, name="p5-reserved", price=60.0),
        p5("us-east-1a", 9, name="p5-spot", price=30.0),
    )
    model = ModelDemand(
        "m", 1, gpus_per_replica=8, nodes_per_replica=2, gpu_models=("H100-80GB", "H200-141GB")
    )
    plan = plan_placement(Inventory((), types), Demand((model,)))
    assert {a.instance_type for a in plan.assignments} == {"p5-spot"}
    assert "fell back to p5-spot in us-east-1a" in plan.reasons[0]


def test_no_capacity_anywhere_is_unplaced_with_the_reason() -> None:
    plan = plan_placement(Inventory((), (p5("us-east-1a", 1),)), Demand((BIG,)))
    assert not plan.assignments
    assert len(plan.unplaced) == 2
    assert "us-east-1a has 1 p5.48xlarge available (needs 2)" in plan.unplaced[0].reason


def test_property_no_replica_mixes_instance_types_zones_or_gpu_models() -> None:
    rng = np.random.default_rng(42)
    zones = ("z1", "z2", "z3")
    kinds = (
        ("p5", "H100-80GB", 8),
        ("p5-alt", "H100-80GB", 8),
        ("p4de", "A100-80GB", 8),
        ("g-small", "H100-80GB", 4),
    )
    for trial in range(40):
        nodes = []
        for n in range(int(rng.integers(0, 8))):
            name, model, count = kinds[int(rng.integers(len(kinds)))]
            node = idle_node(f"n{n}", zones[int(rng.integers(3))], name, model, count)
            if rng.random() < 0.3:  # read from a node without zone / instance-type labels
                node = Node(node.name, "", "", node.gpus)
            if rng.random() < 0.3:  # something runs on its first GPU
                g = node.gpus[0]
                node = Node(
                    node.name,
                    node.zone,
                    node.instance_type,
                    (Gpu(g.uuid, g.model, in_use=True), *node.gpus[1:]),
                )
            nodes.append(node)
        types = tuple(
            InstanceType(
                name, z, model, count, float(rng.integers(10, 90)), int(rng.integers(0, 3))
            )
            for name, model, count in kinds
            for z in zones
            if rng.random() < 0.7
        )
        model = ModelDemand(
            "big",
            replicas=int(rng.integers(1, 4)),
            gpus_per_replica=int(rng.choice([4, 8])),
            nodes_per_replica=int(rng.integers(1, 4)),
            gpu_models=tuple(rng.permutation(["H100-80GB", "A100-80GB"]).tolist()),
        )
        plan = plan_placement(Inventory(tuple(nodes), types), Demand((model,)))
        check_groups(plan, model)
        assert len(groups(plan)) + len(plan.unplaced) == model.replicas, trial
        provisioned = defaultdict(set)
        for a in plan.assignments:
            if a.node.startswith("new:"):
                provisioned[(a.instance_type, a.zone)].add(a.node)
        for t in types:  # never more new nodes than `available`
            assert len(provisioned[(t.name, t.zone)]) <= t.available
