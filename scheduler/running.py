"""What already runs, sorted into what the plan must respect.

For every in-use MIG instance or whole GPU of the inventory:
- kept: labelled with a demanded slice model, on a choice that model may use, within its
  replica count: it counts as a running replica (an Assignment with kept=True);
- released: labelled with a demanded model but surplus (more running than wanted) or on a
  profile the model no longer fits in: its slice is freed, and the plan says so;
- fixed: unlabelled, or another workload's: it stays where it is and is never moved.
Idle instances (not in use) are free space: the packer may reuse or recreate them.
Whole-GPU replicas are grouped in `multinode_kept`.

`closed` GPUs (DCGM shows them unhealthy or throttled: scheduler/controller/health.py) take no
new replica; when a model has more running replicas than wanted, those on closed GPUs are the
first released, then the highest ordinals.

Replica names: a StatefulSet or LeaderWorkerSet pod's index N names replica `<model>-N`, so
when there are more running replicas than wanted the lowest ordinals are kept (those are the
pods a scale-down leaves). A Deployment's pods carry no replica name, and webhooks before this
one gave all of them the same one: a replica name is never trusted to be unique on a
single-node model, and a repeated or missing one is replaced by a fresh name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace

from scheduler.catalog import WHOLE
from scheduler.demand import ModelDemand
from scheduler.inventory import Inventory
from scheduler.plan import Assignment
from scheduler.sizing import SliceChoice

GpuRef = tuple[str, int]  # (node name, GPU index on the node)


def replica_ordinal(model: str, replica: str | None) -> int | None:
    """ "llama-3" of model "llama" -> 3 (the pod or group index it belongs to); else None."""
    tail = (replica or "").removeprefix(f"{model}-")
    if replica is None or tail == replica or not (tail.isascii() and tail.isdigit()):
        return None
    return int(tail) if str(int(tail)) == tail else None


def _keep_order(model: str, replica: str | None, closed: bool = False) -> tuple[bool, bool, int]:
    """Sort key: replicas on healthy GPUs first; then with an ordinal, lowest first; the rest
    keep their order."""
    ordinal = replica_ordinal(model, replica)
    return (closed, ordinal is None, ordinal or 0)


def fresh_names(model: str, taken: set[str]) -> Iterator[str]:
    """`<model>-N` for N = 0, 1, ... that are not taken: new replicas fill the gaps."""
    n = 0
    while True:
        if f"{model}-{n}" not in taken:
            yield f"{model}-{n}"
        n += 1


@dataclass(frozen=True)
class Running:
    """One running slice (or whole GPU) of the inventory."""

    gpu: GpuRef
    profile: str  # MIG profile or WHOLE
    start: int
    model: str | None
    replica: str | None


@dataclass(frozen=True)
class RunningSplit:
    kept: dict[str, list[Running]]  # model -> running replicas that count (replica names unique)
    released: list[tuple[Running, str]]  # freed, with why
    fixed: list[Running]  # stays, never moved


def running_instances(inventory: Inventory) -> list[Running]:
    out = []
    for node in inventory.nodes:
        for i, gpu in enumerate(node.gpus):
            if gpu.in_use:
                out.append(Running((node.name, i), WHOLE, 0, gpu.served_model, gpu.replica))
            out += [
                Running((node.name, i), m.profile, m.start, m.model, m.replica)
                for m in gpu.mig
                if m.in_use
            ]
    return out


def split_running(
    inventory: Inventory,
    slice_models: dict[str, tuple[ModelDemand, tuple[SliceChoice, ...]]],
    skip: set[GpuRef],
    closed: Collection[GpuRef] = frozenset(),
) -> RunningSplit:
    """`slice_models`: demanded single-GPU models with their choices; `skip`: GPUs already
    accounted for (running multi-node replicas); `closed`: GPUs whose replicas go first when
    there are too many. A kept replica whose name an earlier one already has gets
    replica=None, so the caller names it afresh."""
    nodes = {n.name: n for n in inventory.nodes}
    fitting: dict[str, list[Running]] = defaultdict(list)
    released: list[tuple[Running, str]] = []
    fixed: list[Running] = []
    for r in running_instances(inventory):
        if r.gpu in skip:
            continue
        if r.model is None or r.model not in slice_models:
            fixed.append(r)
            continue
        _, choices = slice_models[r.model]
        gpu_model = nodes[r.gpu[0]].gpus[r.gpu[1]].model
        if SliceChoice(gpu_model, r.profile) not in choices:
            allowed = ", ".join(f"{c.profile} on {c.gpu_model}" for c in choices) or "nothing"
            released.append((r, f"{r.profile} on {gpu_model} no longer fits (now: {allowed})"))
        else:
            fitting[r.model].append(r)
    kept: dict[str, list[Running]] = {}
    for name, runs in fitting.items():
        model = slice_models[name][0]
        runs.sort(key=lambda r: _keep_order(name, r.replica, r.gpu in closed))
        for r in runs[model.replicas :]:
            why = f"{model.replicas} replica(s) wanted, this one is surplus"
            released.append((r, why + (" on a GPU closed to placement" if r.gpu in closed else "")))
        seen: set[str | None] = {None}
        kept[name] = []
        for r in runs[: model.replicas]:
            if r.replica in seen:
                r = replace(r, replica=None)  # one slice is one replica: a repeated name is stale
            seen.add(r.replica)
            kept[name].append(r)
    return RunningSplit(kept, released, fixed)


@dataclass(frozen=True)
class MultiNodeRunning:
    kept: dict[str, tuple[Assignment, ...]]  # replica -> its GPUs
    kept_gpus: set[GpuRef]
    released_gpus: set[GpuRef]  # labelled with the model but surplus or the wrong shape


def multinode_kept(
    inventory: Inventory, model: ModelDemand, closed: Collection[GpuRef] = frozenset()
) -> MultiNodeRunning:
    """Running replicas of a whole-GPU model whose shape matches the demand: gpus_per_replica on
    each of nodes_per_replica nodes, one type, one zone; at most `replicas` of them.

    A multi-node replica is the GPUs that carry its replica name (nothing else can tell which
    nodes belong together). A single-node replica is read per node instead: the model's GPUs
    on one node, in index order, cut into replicas of gpus_per_replica, because a Deployment's
    pods have no (or, from older webhooks, one shared) replica name. Such a cut may pair GPUs
    differently from the pods, which is harmless: the model's claim takes any planned GPUs
    of its node (placement.py). Replicas with a GPU in `closed` are kept last."""
    assert model.gpus_per_replica is not None
    single_node = model.nodes_per_replica == 1
    shares: dict[tuple[str, str | None], list[tuple[GpuRef, Assignment]]] = defaultdict(list)
    for node in inventory.nodes:
        for i, gpu in enumerate(node.gpus):
            if not (gpu.in_use and gpu.served_model == model.name):
                continue
            if not (single_node or gpu.replica):
                continue  # an unnamed GPU of a multi-node model: which replica is unknowable
            assignment = Assignment(
                gpu.replica or "",
                model.name,
                node.name,
                gpu.uuid,
                gpu.model,
                WHOLE,
                None,
                node.instance_type,
                node.zone,
                kept=True,
            )
            key = (node.name, gpu.replica) if single_node else ("", gpu.replica)
            shares[key].append(((node.name, i), assignment))
    groups: list[tuple[str | None, list[tuple[GpuRef, Assignment]]]] = []
    for (_, replica), share in shares.items():
        step = model.gpus_per_replica if single_node else len(share)
        groups += [(replica, share[k : k + step]) for k in range(0, len(share), step)]
    groups.sort(key=lambda g: _keep_order(model.name, g[0], any(ref in closed for ref, _ in g[1])))
    chosen: list[tuple[str | None, list[tuple[GpuRef, Assignment]]]] = []
    for replica, share in groups:
        per_node: dict[str, int] = defaultdict(int)
        for _, a in share:
            per_node[a.node] += 1
        shape_ok = (
            len(per_node) == model.nodes_per_replica
            and set(per_node.values()) == {model.gpus_per_replica}
            and len({(a.instance_type, a.zone) for _, a in share}) == 1
        )
        if shape_ok and len(chosen) < model.replicas:
            named = {name for name, _ in chosen}
            chosen.append((None if replica in named else replica, share))
    fresh = fresh_names(model.name, {name for name, _ in chosen if name})
    kept: dict[str, tuple[Assignment, ...]] = {}
    for replica, share in chosen:
        name = replica or next(fresh)
        kept[name] = tuple(replace(a, replica=name) for _, a in share)
    kept_gpus = {ref for _, share in chosen for ref, _ in share}
    labelled = {ref for share in shares.values() for ref, _ in share}
    return MultiNodeRunning(kept, kept_gpus, labelled - kept_gpus)
