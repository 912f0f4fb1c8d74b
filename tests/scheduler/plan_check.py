"""An independent checker of whole plans against the inventory and demand they came from.

It shares nothing with the packer but the catalog's data (profiles, starts, slice counts):
every MIG instance at an allowed start, no two instances over one memory slice, compute and
per-profile counts within the GPU, a whole GPU to one replica alone, other workloads' running
slices left where they are, every replica of a model on what the model may use (its profile,
enough memory, an allowed GPU model), a multi-node replica on `nodes_per_replica` nodes of one
instance type in one zone with `gpus_per_replica` whole GPUs each, and every wanted replica
either placed or unplaced, once. `closed` GPUs may only hold replicas kept where they ran.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection

from scheduler.catalog import WHOLE, load_catalog
from scheduler.demand import Demand, ModelDemand
from scheduler.inventory import Inventory
from scheduler.plan import Assignment, Plan

NEW = "new:"


def check_plan(
    plan: Plan, inventory: Inventory, demand: Demand, closed: Collection[str] = ()
) -> None:
    catalog = load_catalog()
    wanted = {m.name: m for m in demand.models}
    gpus = {(n.name, g.uuid): (n, g) for n in inventory.nodes for g in n.gpus if g.uuid}
    on_gpu: dict[tuple[str, str], list[tuple[str, int, str]]] = defaultdict(list)
    for n in inventory.nodes:  # what other workloads run stays
        for g in n.gpus:
            if g.in_use and g.served_model not in wanted:
                on_gpu[(n.name, g.uuid)].append((WHOLE, 0, "other workload"))
            for m in g.mig:
                if m.in_use and m.model not in wanted:
                    on_gpu[(n.name, g.uuid)].append((m.profile, m.start, "other workload"))
    replicas: dict[tuple[str, str], list[Assignment]] = defaultdict(list)
    new_node_slices: Counter[str] = Counter()
    for a in plan.assignments:
        assert a.model in wanted, f"{a.replica}: model {a.model!r} was not asked for"
        replicas[(a.model, a.replica)].append(a)
        spec = catalog.gpu(a.gpu_model)
        if a.profile != WHOLE:
            profile = spec.profile(a.profile)
            assert a.start in profile.starts, f"{a.replica}: {a.profile}@{a.start} not allowed"
        if a.node.startswith(NEW):
            _, itype, zone, _ = a.node.split(":", 3)
            assert (itype, zone) == (a.instance_type, a.zone), f"{a.replica}: {a.node} vs {a}"
            assert any(
                t.name == itype and t.zone == zone and t.gpu_model == a.gpu_model
                for t in inventory.instance_types
            ), f"{a.replica}: no instance type {itype} in {zone} with {a.gpu_model}"
            slices = (
                spec.memory_slices if a.profile == WHOLE else spec.profile(a.profile).memory_slices
            )
            new_node_slices[a.node] += slices
            continue
        assert (a.node, a.gpu) in gpus, f"{a.replica}: no GPU {a.gpu!r} on {a.node!r}"
        node, gpu = gpus[(a.node, a.gpu)]
        assert gpu.model == a.gpu_model, f"{a.replica}: {a.gpu} is a {gpu.model}"
        assert (node.instance_type, node.zone) == (a.instance_type, a.zone), a.replica
        assert a.kept or a.gpu not in closed, f"{a.replica}: new on closed GPU {a.gpu}"
        on_gpu[(a.node, a.gpu)].append((a.profile, a.start or 0, a.replica))
    for node_name, slices in new_node_slices.items():
        itype, zone = node_name.split(":")[1:3]
        t = next(t for t in inventory.instance_types if (t.name, t.zone) == (itype, zone))
        capacity = t.gpus * catalog.gpu(t.gpu_model).memory_slices
        assert slices <= capacity, f"{node_name}: {slices} memory slices > {capacity}"
    for (node_name, uuid), instances in on_gpu.items():
        _check_gpu(gpus[(node_name, uuid)][1].model, uuid, instances)
    for (model, replica), share in replicas.items():
        _check_replica(wanted[model], replica, share)
    for model in wanted.values():
        placed = {r for (m, r) in replicas if m == model.name}
        unplaced = [u.replica for u in plan.unplaced if u.model == model.name]
        assert len(unplaced) == len(set(unplaced)), f"{model.name}: unplaced twice: {unplaced}"
        assert not placed & set(unplaced), f"{model.name}: placed and unplaced"
        assert len(placed) + len(unplaced) == model.replicas, (
            f"{model.name}: {len(placed)} placed + {len(unplaced)} unplaced != {model.replicas}"
        )


def _check_gpu(gpu_model: str, uuid: str, instances: list[tuple[str, int, str]]) -> None:
    spec = load_catalog().gpu(gpu_model)
    if any(p == WHOLE for p, _, _ in instances):
        assert len(instances) == 1, f"whole GPU {uuid} shared: {instances}"
        return
    taken: dict[int, str] = {}
    compute = 0
    counts: Counter[str] = Counter()
    for profile_name, start, owner in instances:
        profile = spec.profile(profile_name)
        for s in range(start, start + profile.memory_slices):
            assert s not in taken, f"GPU {uuid}: slice {s} of {owner} and {taken[s]}"
            taken[s] = owner
        compute += profile.compute_slices
        counts[profile_name] += 1
        assert counts[profile_name] <= profile.max_count, f"GPU {uuid}: too many {profile_name}"
    assert compute <= spec.compute_slices, f"GPU {uuid}: {compute} compute slices"


def _check_replica(model: ModelDemand, replica: str, share: list[Assignment]) -> None:
    catalog = load_catalog()
    allowed = model.gpu_models or catalog.names
    for a in share:
        assert a.gpu_model in allowed, f"{replica}: {a.gpu_model} not allowed"
    if model.gpus_per_replica is None:
        assert len(share) == 1, f"{replica}: a single-GPU replica with {len(share)} shares"
        a = share[0]
        spec = catalog.gpu(a.gpu_model)
        if model.mig_profile is not None:
            assert a.profile == model.mig_profile, f"{replica}: {a.profile}"
        else:
            assert model.memory_gib is not None
            gib = spec.whole_gib if a.profile == WHOLE else spec.profile(a.profile).usable_gib
            assert gib >= model.memory_gib, f"{replica}: {a.profile} holds {gib} GiB"
        return
    per_node = Counter(a.node for a in share)
    assert all(a.profile == WHOLE for a in share), f"{replica}: not whole GPUs"
    assert len(per_node) == model.nodes_per_replica, f"{replica}: on {dict(per_node)}"
    assert set(per_node.values()) == {model.gpus_per_replica}, f"{replica}: {dict(per_node)}"
    shapes = {(a.instance_type, a.zone) for a in share}
    assert len(shapes) == 1, f"{replica}: instance types/zones {shapes}"
    if model.nodes_per_replica > 1:
        assert all(t and z for t, z in shapes), f"{replica}: an unlabelled node in {shapes}"
    gpus = [(a.node, a.gpu) for a in share if a.gpu]
    assert len(gpus) == len(set(gpus)), f"{replica}: a GPU twice"
