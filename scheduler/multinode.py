"""Replicas on whole GPUs over one or more nodes (`gpus_per_replica` x `nodes_per_replica`).

Every node of one replica has the same instance type and the same zone: a slower shard slows
the whole replica, and cross-zone traffic adds latency and cost. For each replica:
1. existing nodes with enough free whole GPUs (nothing running on them) come first, in pools of
   one (instance type, zone), preferred GPU model first, cheapest first;
2. otherwise a pool is provisioned, tried in this order: the primary (instance type, zone) (the
   first type, in file order, of the most preferred GPU model), the same type in the next zones,
   then types with the same GPU count and the same memory per GPU, cheapest first, zone by
   zone. A pool may mix idle existing nodes with new ones of its type and zone. Every pool
   passed over is named in the plan's reasons ("us-east-1a has 0 p5.48xlarge available; fell
   back to us-east-1b").
New nodes are named "new:<type>:<zone>:<n>" with GPU uuids ""; their GPUs a replica leaves free
stay available to later replicas and to the slice packer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scheduler.catalog import WHOLE, Catalog
from scheduler.demand import ModelDemand
from scheduler.inventory import Gpu, InstanceType, Inventory, Node
from scheduler.packing.problem import NEW_NODE_PREFIX
from scheduler.plan import Assignment, Unplaced


@dataclass
class Fleet:
    """Nodes as this plan sees them: free GPUs per node and what may still be provisioned.
    Mutable while a plan is built; one per `plan_placement` call."""

    nodes: dict[str, Node]
    free: dict[str, list[int]]  # node -> indices of GPUs nothing is on or planned for
    remaining: dict[tuple[str, str], int]  # (type, zone) -> nodes that may still be provisioned
    next_index: dict[tuple[str, str], int] = field(default_factory=dict)
    used_nodes: set[str] = field(default_factory=set)

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> Fleet:
        nodes = {n.name: n for n in inventory.nodes}
        free = {n.name: [i for i, g in enumerate(n.gpus) if not g.busy] for n in inventory.nodes}
        remaining = {(t.name, t.zone): t.available for t in inventory.instance_types}
        used = {n.name for n in inventory.nodes if any(g.busy for g in n.gpus)}
        return cls(nodes, free, remaining, used_nodes=used)

    def provision(self, t: InstanceType) -> str:
        key = (t.name, t.zone)
        n = self.next_index.get(key, 0)
        self.next_index[key] = n + 1
        self.remaining[key] -= 1
        name = f"{NEW_NODE_PREFIX}{t.name}:{t.zone}:{n}"
        gpus = tuple(Gpu("", t.gpu_model) for _ in range(t.gpus))
        self.nodes[name] = Node(name, t.zone, t.name, gpus)
        self.free[name] = list(range(t.gpus))
        return name


@dataclass(frozen=True)
class MultiNodeResult:
    assignments: tuple[Assignment, ...]
    unplaced: tuple[Unplaced, ...]
    reasons: tuple[str, ...]


def place_multinode(
    model: ModelDemand,
    fleet: Fleet,
    inventory: Inventory,
    catalog: Catalog,
    kept: dict[str, tuple[Assignment, ...]],
) -> MultiNodeResult:
    """Place `model.replicas` replicas, counting `kept` (replica -> its running GPUs) first."""
    assert model.gpus_per_replica is not None
    allowed = model.gpu_models or catalog.names
    out: list[Assignment] = [a for share in kept.values() for a in share]
    unplaced: list[Unplaced] = []
    reasons: list[str] = []
    names = _replica_names(model, set(kept))
    for replica in names[: max(0, model.replicas - len(kept))]:
        nodes = _existing_pool(model, fleet, inventory, allowed)
        skipped: list[str] = []
        if nodes is None:
            nodes = _provisioned_pool(model, fleet, inventory, catalog, allowed, skipped)
        if nodes is None:
            why = "; ".join(skipped) or "no instance type with enough GPUs of an allowed model"
            unplaced.append(Unplaced(replica, model.name, f"no capacity: {why}"))
            reasons.append(f"{_label(model, replica)}: unplaced: {why}")
            continue
        if skipped:
            first = fleet.nodes[nodes[0]]
            reasons.append(
                f"{_label(model, replica)}: {'; '.join(skipped)}; fell back to "
                f"{first.instance_type} in {first.zone}"
            )
        for name in nodes:
            node = fleet.nodes[name]
            take, fleet.free[name] = (
                fleet.free[name][: model.gpus_per_replica],
                fleet.free[name][model.gpus_per_replica :],
            )
            fleet.used_nodes.add(name)
            out += [
                Assignment(
                    replica=replica,
                    model=model.name,
                    node=name,
                    gpu=node.gpus[i].uuid,
                    gpu_model=node.gpus[i].model,
                    profile=WHOLE,
                    start=None,
                    instance_type=node.instance_type,
                    zone=node.zone,
                )
                for i in take
            ]
    return MultiNodeResult(tuple(out), tuple(unplaced), tuple(reasons))


def _label(model: ModelDemand, replica: str) -> str:
    """A readable name for a replica: llama-405b-2 reads as llama-405b replica 2."""
    return f"{model.name} replica {replica.removeprefix(model.name + '-')}"


def _replica_names(model: ModelDemand, taken: set[str]) -> list[str]:
    out: list[str] = []
    n = 0
    while len(out) < model.replicas:
        name = f"{model.name}-{n}"
        if name not in taken:
            out.append(name)
        n += 1
    return out


def _fits(model: ModelDemand, fleet: Fleet, name: str, allowed: tuple[str, ...]) -> bool:
    node = fleet.nodes[name]
    free = fleet.free[name]
    assert model.gpus_per_replica is not None
    return (
        len(free) >= model.gpus_per_replica
        and len({node.gpus[i].model for i in free[: model.gpus_per_replica]}) == 1
        and node.gpus[free[0]].model in allowed
    )


def _existing_pool(
    model: ModelDemand, fleet: Fleet, inventory: Inventory, allowed: tuple[str, ...]
) -> list[str] | None:
    pools: dict[tuple[str, str], list[str]] = {}
    for name, node in fleet.nodes.items():
        if _fits(model, fleet, name, allowed):
            pools.setdefault((node.instance_type, node.zone), []).append(name)

    def rank(key: tuple[str, str]) -> tuple[int, float]:
        first = fleet.nodes[pools[key][0]]
        gpu_model = first.gpus[fleet.free[first.name][0]].model
        price = inventory.price_per_hour(*key)
        return (allowed.index(gpu_model), price if price is not None else 0.0)

    for key in sorted(pools, key=rank):
        if len(pools[key]) >= model.nodes_per_replica:
            # Nodes already paid for first: a replica should not open an idle node needlessly.
            members = sorted(pools[key], key=lambda n: n not in fleet.used_nodes)
            return members[: model.nodes_per_replica]
    return None


def fallback_order(
    model: ModelDemand, inventory: Inventory, catalog: Catalog, allowed: tuple[str, ...]
) -> list[InstanceType]:
    """Instance types (with zone) to provision from, in the order they are tried."""
    assert model.gpus_per_replica is not None
    fitting = [
        t
        for t in inventory.instance_types
        if t.gpu_model in allowed and t.gpus >= model.gpus_per_replica
    ]
    if not fitting:
        return []
    primary = min(fitting, key=lambda t: (allowed.index(t.gpu_model), fitting.index(t)))
    same_type = [t for t in fitting if t.name == primary.name]
    memory = catalog.gpu(primary.gpu_model).memory_gb
    alike = [
        t
        for t in fitting
        if t.name != primary.name
        and t.gpus == primary.gpus
        and catalog.gpu(t.gpu_model).memory_gb == memory
    ]
    alike.sort(key=lambda t: (t.price_per_hour, fitting.index(t)))
    return same_type + alike


def _provisioned_pool(
    model: ModelDemand,
    fleet: Fleet,
    inventory: Inventory,
    catalog: Catalog,
    allowed: tuple[str, ...],
    skipped: list[str],
) -> list[str] | None:
    for t in fallback_order(model, inventory, catalog, allowed):
        idle = [
            name
            for name, node in fleet.nodes.items()
            if node.instance_type == t.name
            and node.zone == t.zone
            and _fits(model, fleet, name, allowed)
        ]
        short = model.nodes_per_replica - len(idle)
        left = fleet.remaining.get((t.name, t.zone), 0)
        if left < short:
            skipped.append(f"{t.zone} has {left} {t.name} available (needs {short})")
            continue
        nodes = idle[: model.nodes_per_replica]
        nodes += [fleet.provision(t) for _ in range(max(0, short))]
        return nodes
    return None
