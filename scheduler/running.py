"""What already runs, sorted into what the plan must respect.

For every in-use MIG instance or whole GPU of the inventory:
- kept: labelled with a demanded slice model, on a choice that model may use, within its
  replica count: it counts as a running replica (an Assignment with kept=True);
- released: labelled with a demanded model but surplus (more running than wanted) or on a
  profile the model no longer fits in: its slice is freed, and the plan says so;
- fixed: unlabelled, or another workload's: it stays where it is and is never moved.
Idle instances (not in use) are free space: the packer may reuse or recreate them.
Whole-GPU replicas of multi-node models are grouped by replica label in `multinode_kept`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from scheduler.catalog import WHOLE
from scheduler.demand import ModelDemand
from scheduler.inventory import Inventory
from scheduler.plan import Assignment
from scheduler.sizing import SliceChoice

GpuRef = tuple[str, int]  # (node name, GPU index on the node)


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
    kept: dict[str, list[Running]]  # model -> running replicas that count
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
) -> RunningSplit:
    """`slice_models`: demanded single-GPU models with their choices; `skip`: GPUs already
    accounted for (running multi-node replicas)."""
    nodes = {n.name: n for n in inventory.nodes}
    kept: dict[str, list[Running]] = defaultdict(list)
    released: list[tuple[Running, str]] = []
    fixed: list[Running] = []
    for r in running_instances(inventory):
        if r.gpu in skip:
            continue
        if r.model is None or r.model not in slice_models:
            fixed.append(r)
            continue
        model, choices = slice_models[r.model]
        gpu_model = nodes[r.gpu[0]].gpus[r.gpu[1]].model
        if SliceChoice(gpu_model, r.profile) not in choices:
            allowed = ", ".join(f"{c.profile} on {c.gpu_model}" for c in choices) or "nothing"
            released.append((r, f"{r.profile} on {gpu_model} no longer fits (now: {allowed})"))
        elif len(kept[r.model]) >= model.replicas:
            released.append((r, f"{model.replicas} replica(s) wanted, this one is surplus"))
        else:
            kept[r.model].append(r)
    return RunningSplit(dict(kept), released, fixed)


@dataclass(frozen=True)
class MultiNodeRunning:
    kept: dict[str, tuple[Assignment, ...]]  # replica -> its GPUs
    kept_gpus: set[GpuRef]
    released_gpus: set[GpuRef]  # labelled with the model but surplus or the wrong shape


def multinode_kept(inventory: Inventory, model: ModelDemand) -> MultiNodeRunning:
    """Running replicas of a whole-GPU model (GPUs labelled with it and a replica name) whose
    shape matches the demand: gpus_per_replica on each of nodes_per_replica nodes, one type,
    one zone; at most `replicas` of them."""
    groups: dict[str, list[Assignment]] = defaultdict(list)
    refs: dict[str, set[GpuRef]] = defaultdict(set)
    labelled: set[GpuRef] = set()
    for node in inventory.nodes:
        for i, gpu in enumerate(node.gpus):
            if gpu.in_use and gpu.served_model == model.name and gpu.replica:
                labelled.add((node.name, i))
                refs[gpu.replica].add((node.name, i))
                groups[gpu.replica].append(
                    Assignment(
                        gpu.replica,
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
                )
    kept: dict[str, tuple[Assignment, ...]] = {}
    kept_gpus: set[GpuRef] = set()
    for replica, share in groups.items():
        per_node: dict[str, int] = defaultdict(int)
        for a in share:
            per_node[a.node] += 1
        shape_ok = (
            len(per_node) == model.nodes_per_replica
            and set(per_node.values()) == {model.gpus_per_replica}
            and len({(a.instance_type, a.zone) for a in share}) == 1
        )
        if shape_ok and len(kept) < model.replicas:
            kept[replica] = tuple(share)
            kept_gpus |= refs[replica]
    return MultiNodeRunning(kept, kept_gpus, labelled - kept_gpus)
