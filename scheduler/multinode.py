"""Replicas on whole GPUs over one or more nodes (`gpus_per_replica` x `nodes_per_replica`).

Every node of one replica has the same instance type and the same zone: a slower shard slows
the whole replica, and cross-zone traffic adds latency and cost. For each replica:
1. existing nodes with enough free whole GPUs (nothing running on them) come first, in pools of
   one (instance type, zone, GPU model), preferred GPU model first, cheapest first. A node
   without a zone or instance-type label joins no pool for a replica over several nodes:
   nothing shows that another node matches it (the plan's reasons name it);
2. otherwise a pool is provisioned (`fallback_order`): the primary (instance type, zone) (the
   first type, in file order, of the most preferred GPU model), the same type in the next zones,
   then types with the same GPU count and the same memory per GPU, cheapest first, then every
   other type with at least `gpus_per_replica` GPUs of an allowed model, in `gpu_models` order,
   cheapest first; each (type, zone) is one pool. A pool may mix idle existing nodes with new
   ones of its type and zone. Every pool passed over is named in the plan's reasons
   ("us-east-1a has 0 p5.48xlarge available (needs 2); fell back to p5.48xlarge in
   us-east-1b"), and so is a GPU model or count other than the primary's.
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
    names = _replica_names(model, set(kept))[: max(0, model.replicas - len(kept))]
    unlabelled = [
        name
        for name, node in fleet.nodes.items()
        if not _labelled(node) and _fits(model, fleet, name, allowed)
    ]
    unlabelled_note = ""
    if names and model.nodes_per_replica > 1 and unlabelled:
        unlabelled_note = f"{', '.join(unlabelled)} lack a zone or instance-type label"
        reasons.append(
            f"{model.name}: {', '.join(unlabelled)} not used: a node without a zone and an "
            f"instance-type label cannot be matched to the others of a "
            f"{model.nodes_per_replica}-node replica (one type, one zone)"
        )
    order = fallback_order(model, inventory, catalog, allowed)
    for replica in names:
        nodes = _existing_pool(model, fleet, inventory, allowed)
        skipped: list[str] = []
        if nodes is None:
            pool = _provisioned_pool(model, fleet, order, skipped)
            if pool is None:
                parts = skipped or ["no instance type with enough GPUs of an allowed model"]
                why = "; ".join([*parts, unlabelled_note] if unlabelled_note else parts)
                unplaced.append(Unplaced(replica, model.name, f"no capacity: {why}"))
                reasons.append(f"{_label(model, replica)}: unplaced: {why}")
                continue
            nodes, chosen = pool
            if skipped:
                reasons.append(
                    f"{_label(model, replica)}: {'; '.join(skipped)}; fell back to "
                    + _pool_name(chosen, order[0])
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


def _pool_name(t: InstanceType, primary: InstanceType) -> str:
    """The pool a replica fell back to, with its GPUs when they are not the primary type's, so a
    change of GPU model or count is never silent: "p5e.48xlarge (8 x H200-141GB, not 8 x
    H100-80GB) in us-east-1a"."""
    if (t.gpus, t.gpu_model) == (primary.gpus, primary.gpu_model):
        return f"{t.name} in {t.zone}"
    return (
        f"{t.name} ({t.gpus} x {t.gpu_model}, not {primary.gpus} x {primary.gpu_model}) in {t.zone}"
    )


def _labelled(node: Node) -> bool:
    return bool(node.zone and node.instance_type)


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
    pools: dict[tuple[str, str, str], list[str]] = {}
    for name, node in fleet.nodes.items():
        if not _fits(model, fleet, name, allowed):
            continue
        if model.nodes_per_replica > 1 and not _labelled(node):
            continue  # a pool of its own, which never holds a replica over several nodes
        gpu_model = node.gpus[fleet.free[name][0]].model
        pools.setdefault((node.instance_type, node.zone, gpu_model), []).append(name)

    def rank(key: tuple[str, str, str]) -> tuple[int, float]:
        price = inventory.price_per_hour(key[0], key[1])
        return (allowed.index(key[2]), price if price is not None else 0.0)

    for key in sorted(pools, key=rank):
        if len(pools[key]) >= model.nodes_per_replica:
            # Nodes already paid for first: a replica should not open an idle node needlessly.
            members = sorted(pools[key], key=lambda n: n not in fleet.used_nodes)
            return members[: model.nodes_per_replica]
    return None


def fallback_order(
    model: ModelDemand, inventory: Inventory, catalog: Catalog, allowed: tuple[str, ...]
) -> list[InstanceType]:
    """Instance types (with zone) to provision from, in the order they are tried (module
    docstring, step 2). Without `gpu_models` the last step keeps to GPUs with at least the
    primary's memory: nothing says that a smaller GPU holds the replica."""
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
    first = same_type + alike
    rest = [
        t
        for t in fitting
        if t not in first and (model.gpu_models or catalog.gpu(t.gpu_model).memory_gb >= memory)
    ]
    rest.sort(key=lambda t: (allowed.index(t.gpu_model), t.price_per_hour, fitting.index(t)))
    return first + rest


def _provisioned_pool(
    model: ModelDemand,
    fleet: Fleet,
    order: list[InstanceType],
    skipped: list[str],
) -> tuple[list[str], InstanceType] | None:
    for t in order:
        idle = [
            name
            for name, node in fleet.nodes.items()
            if node.instance_type == t.name
            and node.zone == t.zone
            and _fits(model, fleet, name, (t.gpu_model,))
        ]
        short = model.nodes_per_replica - len(idle)
        left = fleet.remaining.get((t.name, t.zone), 0)
        if left < short:
            skipped.append(f"{t.zone} has {left} {t.name} available (needs {short})")
            continue
        nodes = idle[: model.nodes_per_replica]
        nodes += [fleet.provision(t) for _ in range(max(0, short))]
        return nodes, t
    return None
