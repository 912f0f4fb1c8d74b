"""A toy cluster for the controller's timeline tests: nodes, and a kubelet that makes a plan run.

`converge(inventory, plan)` is what the cluster looks like once the I/O layer applied the plan
and every pod started: planned slices and whole GPUs in use, labelled with model and replica;
replicas the plan released gone; a node the plan provisioned ("new:<type>:<zone>:<n>") made
real under a cloud name, with GPUs of its own, and one fewer of its type left in its zone.
It is written apart from the controller's overlay on purpose: the tests check the controller
against this, not against itself.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from scheduler.catalog import WHOLE
from scheduler.inventory import Gpu, InstanceType, Inventory, MigInstance, Node
from scheduler.plan import Plan

H100 = "H100-80GB"
P5 = "p5.48xlarge"


def node(name: str, zone: str = "us-east-1a", gpus: int = 8, model: str = H100) -> Node:
    return Node(name, zone, P5, tuple(Gpu(f"GPU-{name}-{i}", model) for i in range(gpus)))


def p5(zone: str, available: int, price: float = 55.0) -> InstanceType:
    return InstanceType(P5, zone, H100, 8, price, available)


def converge(inventory: Inventory, plan: Plan, models: set[str]) -> Inventory:
    """The cluster once `plan` runs; `models` are the demanded ones (others' pods stay)."""
    made: dict[str, str] = {}  # "new:..." -> the real node's name
    types = {(t.name, t.zone): t for t in inventory.instance_types}
    nodes = {n.name: n for n in inventory.nodes}
    for a in plan.assignments:
        if a.node.startswith("new:") and a.node not in made:
            _, itype, zone, n = a.node.split(":", 3)
            t = types[(itype, zone)]
            real = f"{zone}-{itype}-{n}-{len(nodes)}"
            made[a.node] = real
            nodes[real] = Node(
                real, zone, itype, tuple(Gpu(f"GPU-{real}-{i}", t.gpu_model) for i in range(t.gpus))
            )
            types[(itype, zone)] = replace(t, available=t.available - 1)
    per_gpu: dict[tuple[str, str], list[tuple[str, int | None, str, str]]] = defaultdict(list)
    new_gpu_cursor: dict[str, int] = defaultdict(int)
    for a in plan.assignments:
        name = made.get(a.node, a.node)
        uuid = a.gpu
        if not uuid:  # a GPU of a node just made: the next one nothing holds
            if a.profile == WHOLE:
                uuid = nodes[name].gpus[new_gpu_cursor[name]].uuid
                new_gpu_cursor[name] += 1
            else:  # slices of a new node: fill its GPUs in order, one slice set per GPU
                uuid = _slice_home(nodes[name], per_gpu, a.profile, a.start)
        per_gpu[(name, uuid)].append((a.profile, a.start, a.model, a.replica))
    out = []
    for n in nodes.values():
        gpus = []
        for g in n.gpus:
            planned = per_gpu.get((n.name, g.uuid), [])
            others = [m for m in g.mig if m.in_use and m.model not in models]
            whole_other = g.in_use and g.served_model not in models
            if whole_other:
                gpus.append(g)
            elif planned and planned[0][0] == WHOLE:
                _, _, model, replica = planned[0]
                gpus.append(Gpu(g.uuid, g.model, (), True, model, replica))
            else:
                mig = [MigInstance(p, s or 0, True, m, r) for p, s, m, r in planned]
                gpus.append(Gpu(g.uuid, g.model, tuple(others + mig)))
        out.append(replace(n, gpus=tuple(gpus)))
    return Inventory(tuple(out), tuple(types.values()))


def _slice_home(
    node: Node,
    per_gpu: dict[tuple[str, str], list[tuple[str, int | None, str, str]]],
    profile: str,
    start: int | None,
) -> str:
    from scheduler.catalog import load_catalog

    spec = load_catalog().gpu(node.gpus[0].model)
    span = set(range(start or 0, (start or 0) + spec.profile(profile).memory_slices))
    for g in node.gpus:
        taken = set()
        for p, s, _, _ in per_gpu.get((node.name, g.uuid), []):
            taken |= set(range(s or 0, (s or 0) + spec.profile(p).memory_slices))
        if not taken & span:
            return g.uuid
    raise AssertionError(f"no room on {node.name} for {profile}@{start}")


def running(inventory: Inventory) -> dict[str, dict[str, tuple[str, str, str, int]]]:
    """model -> replica -> (node, gpu, profile, start) of what runs (one GPU per replica)."""
    out: dict[str, dict[str, tuple[str, str, str, int]]] = defaultdict(dict)
    for n in inventory.nodes:
        for g in n.gpus:
            if g.in_use and g.served_model and g.replica:
                out[g.served_model][g.replica] = (n.name, g.uuid, WHOLE, 0)
            for m in g.mig:
                if m.in_use and m.model and m.replica:
                    out[m.model][m.replica] = (n.name, g.uuid, m.profile, m.start)
    return out
