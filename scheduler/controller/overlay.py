"""The last plan laid over the inventory, so that the next plan keeps what it already decided.

A replica the last plan placed is either running (the inventory shows it: a MIG instance or a
whole GPU in use, labelled with its model) or not yet (the claim template is written, the pod
is pending or not created). Both must stay where they are, or every reconcile would move the
pending ones and rewrite their claims. So each assignment of the last plan on an existing GPU
is written into the inventory as an in-use, labelled instance, unless the inventory shows it
already; the packer (`running.py`) then counts it as a running replica, keeps it, and releases
the surplus from the highest index.

Matching, per GPU: an in-use instance of the same model at the same profile and start is the
planned replica; failing that, one of the same model and profile elsewhere on the GPU (the DRA
scheduler took another start than planned: a claim cannot pin one) stands for it. An instance
of the model with no replica name gets the plan's name, so names stay stable. A planned slice
that no longer fits (the GPU is gone, or something else now runs there) is dropped, with why.
Assignments on nodes still to be provisioned ("new:") are not laid over: there is no node yet,
and the packer places them again (the same way while capacity stays the same).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import replace

from scheduler.catalog import WHOLE, load_catalog
from scheduler.inventory import Gpu, Inventory, MigInstance, Node
from scheduler.packing.geometry import geometry
from scheduler.packing.problem import NEW_NODE_PREFIX
from scheduler.plan import Assignment, Plan


def with_planned(
    inventory: Inventory, plan: Plan | None, models: Collection[str]
) -> tuple[Inventory, tuple[str, ...]]:
    """The inventory with `plan`'s replicas of `models` marked as running; reasons for the
    planned replicas that could not be kept."""
    if plan is None:
        return inventory, ()
    wanted = set(models)
    by_gpu: dict[tuple[str, str], list[Assignment]] = defaultdict(list)
    for a in plan.assignments:
        if a.model in wanted and a.gpu and not a.node.startswith(NEW_NODE_PREFIX):
            by_gpu[(a.node, a.gpu)].append(a)
    if not by_gpu:
        return inventory, ()
    planned_nodes = {node for node, _ in by_gpu}
    reasons: list[str] = []
    nodes = []
    seen: set[tuple[str, str]] = set()
    for node in inventory.nodes:
        if node.name not in planned_nodes:
            nodes.append(node)
            continue
        gpus = []
        for gpu in node.gpus:
            planned = by_gpu.get((node.name, gpu.uuid), [])
            seen.add((node.name, gpu.uuid))
            gpus.append(_lay(gpu, planned, node, reasons) if planned else gpu)
        nodes.append(replace(node, gpus=tuple(gpus)))
    for (node_name, uuid), planned in by_gpu.items():
        if (node_name, uuid) not in seen:
            for a in planned:
                reasons.append(f"{_label(a)}: GPU {uuid} is no longer on {node_name}; placed anew")
    return replace(inventory, nodes=tuple(nodes)), tuple(reasons)


def _label(a: Assignment) -> str:
    return f"{a.model} {a.replica}"


def _lay(gpu: Gpu, planned: list[Assignment], node: Node, reasons: list[str]) -> Gpu:
    whole = [a for a in planned if a.profile == WHOLE]
    if whole:
        return _lay_whole(gpu, whole[0], node, reasons)
    if gpu.in_use:
        for a in planned:
            reasons.append(
                f"{_label(a)}: {node.name} GPU {gpu.uuid} is now held whole "
                f"by {gpu.served_model or 'another workload'}; placed anew"
            )
        return gpu
    spec = load_catalog().gpu(gpu.model)
    geo = geometry(spec)
    running = [m for m in gpu.mig if m.in_use]
    matched: set[int] = set()
    still = list(planned)
    # First the planned slice running where it was planned; then the same model and
    # profile elsewhere on the GPU stands for it.
    for same_start in (True, False):
        unmatched: list[Assignment] = []
        for a in still:
            k = _find(running, matched, a, same_start=same_start)
            if k is None:
                unmatched.append(a)
            else:
                matched.add(k)
                running[k] = _named(running[k], a)
        still = unmatched
    state = geo.state_of((m.profile, m.start) for m in running)
    for a in still:
        if a.start is None or a.profile not in geo.shapes:
            reasons.append(f"{_label(a)}: {a.profile} is not a {gpu.model} profile; placed anew")
            continue
        if not geo.can_place(state, a.profile, a.start):
            reasons.append(
                f"{_label(a)}: {a.profile}@{a.start} on {node.name} GPU {gpu.uuid} is taken "
                "by another instance; placed anew"
            )
            continue
        state = geo.place(state, a.profile, a.start)
        running.append(MigInstance(a.profile, a.start, True, a.model, a.replica))
    taken = state[0]
    idle = [
        m
        for m in gpu.mig
        if not m.in_use
        and m.profile in geo.shapes
        and not geo.shape(m.profile).mask(m.start) & taken
    ]
    return replace(gpu, mig=tuple(running + idle))


def _find(
    running: list[MigInstance], matched: set[int], a: Assignment, same_start: bool
) -> int | None:
    for k, m in enumerate(running):
        if k in matched or m.model != a.model or m.profile != a.profile:
            continue
        if same_start and m.start != a.start:
            continue
        if m.replica and m.replica != a.replica and same_start is False:
            continue  # a named replica of the model is that replica, not this one
        return k
    return None


def _named(m: MigInstance, a: Assignment) -> MigInstance:
    return m if m.replica else replace(m, replica=a.replica)


def _lay_whole(gpu: Gpu, a: Assignment, node: Node, reasons: list[str]) -> Gpu:
    if gpu.in_use:
        if gpu.served_model == a.model:
            return gpu if gpu.replica else replace(gpu, replica=a.replica)
        reasons.append(
            f"{_label(a)}: {node.name} GPU {gpu.uuid} is now held by "
            f"{gpu.served_model or 'another workload'}; placed anew"
        )
        return gpu
    if any(m.in_use for m in gpu.mig):
        reasons.append(
            f"{_label(a)}: {node.name} GPU {gpu.uuid} now has MIG instances in use; placed anew"
        )
        return gpu
    return replace(gpu, in_use=True, served_model=a.model, replica=a.replica, mig=())
