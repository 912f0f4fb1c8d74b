"""`plan_placement(inventory, demand, options) -> Plan`: the one pure entry to placement.

Order of work, and why:
1. Whole-GPU replicas over nodes (`gpus_per_replica`) first: they need whole nodes of one type
   in one zone, the scarcest thing; slices then fill around them.
2. Running slices are sorted (`running.py`) into kept replicas, released surplus, and other
   workloads' slices, which stay put.
3. The slice replicas still wanted are packed onto the GPUs left, provisioning nodes only when
   no existing GPU can take them. Up to `exact_max_replicas` new replicas the ILP runs (its
   plan is `solver="exact"` when HiGHS proves it); above that, or if HiGHS does not prove it in
   time, the better of the heuristic's plan and HiGHS's best is used and its gap to the lower
   bound over the replicas it placed is reported. With no slice replica to pack, no solver
   runs and `solver` is "".
4. With `allow_defragment`, running labelled slices may move, but the moving plan is taken
   only if it uses fewer GPUs than keeping every slice in place.
5. `closed_gpus` (DCGM shows them unhealthy or throttled) are offered to neither step: what
   runs there is kept (or released first when its model shrinks) and never moved, and they
   count as used while anything runs on them.
Cost per hour is the sum of node prices over the nodes the plan uses (each node once).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from scheduler.catalog import WHOLE, Catalog, load_catalog
from scheduler.demand import Demand, ModelDemand, PlacementOptions
from scheduler.inventory import Inventory
from scheduler.multinode import Fleet, place_multinode
from scheduler.packing.bounds import placed_lower_bound
from scheduler.packing.exact import try_pack_exact
from scheduler.packing.heuristic import pack_heuristic
from scheduler.packing.problem import GpuSlot, Item, PackResult, Problem, Provision
from scheduler.plan import Assignment, Plan, Unplaced
from scheduler.running import GpuRef, Running, multinode_kept, split_running
from scheduler.sizing import SliceChoice, slice_choices


@dataclass(frozen=True)
class _Packed:
    result: PackResult
    problem: Problem
    kept: tuple[Assignment, ...]  # running replicas left in place (not items)
    reasons: tuple[str, ...]
    closed_busy: frozenset[GpuRef] = frozenset()  # closed GPUs something still runs on


def plan_placement(
    inventory: Inventory, demand: Demand, options: PlacementOptions | None = None
) -> Plan:
    options = options or PlacementOptions()
    catalog = load_catalog()
    fleet = Fleet.from_inventory(inventory)
    closed = _closed_refs(inventory, options.closed_gpus)
    for node, i in closed:
        fleet.free[node] = [k for k in fleet.free[node] if k != i]
    assignments: list[Assignment] = []
    unplaced: list[Unplaced] = []
    reasons: list[str] = []

    multinode_gpus: set[GpuRef] = set()  # kept or planned for whole-GPU replicas
    skip: set[GpuRef] = set()  # running GPUs of whole-GPU models: not for the slice step
    free_before = {name: set(free) for name, free in fleet.free.items()}
    for model in (m for m in demand.models if m.whole_gpus):
        running = multinode_kept(inventory, model, closed)
        skip |= running.kept_gpus | running.released_gpus
        multinode_gpus |= running.kept_gpus
        for node, i in sorted(running.released_gpus):
            if (node, i) not in closed:
                fleet.free[node] = sorted({*fleet.free[node], i})
                free_before[node].add(i)
            reasons.append(f"{model.name} on {node} GPU {i}: released (surplus or wrong shape)")
        grouped = place_multinode(model, fleet, inventory, catalog, running.kept)
        assignments += grouped.assignments
        unplaced += grouped.unplaced
        reasons += grouped.reasons
    for name, fleet_node in fleet.nodes.items():  # what multi-node replicas took off free lists
        before = free_before.get(name, set(range(len(fleet_node.gpus))))
        multinode_gpus |= {(name, i) for i in before if i not in fleet.free[name]}

    default_models = _default_models(inventory, catalog)  # once: it reads every GPU
    slice_models = {
        m.name: (m, slice_choices(m, catalog, default_models))
        for m in demand.models
        if not m.whole_gpus
    }
    for name, (m, choices) in slice_models.items():
        if not choices and m.replicas:
            need = m.mig_profile or f"{m.memory_gib:g} GiB"
            for n in range(m.replicas):
                unplaced.append(Unplaced(f"{name}-{n}", name, f"no allowed GPU model fits {need}"))
            reasons.append(f"{name}: no allowed GPU model can hold {need}; give gpus_per_replica")
    split = split_running(inventory, slice_models, skip, closed)
    for run, why in split.released:
        reasons.append(
            f"{run.model} {run.replica or ''} on {run.gpu[0]} GPU {run.gpu[1]}: released ({why})"
        )

    # The operator's option (CLI) overrides the demand file either way; None defers to it.
    defrag = (
        demand.allow_defragment if options.allow_defragment is None else options.allow_defragment
    )
    taken = multinode_gpus | closed
    packed = _pack(inventory, fleet, slice_models, split.kept, split.fixed, taken, False, options)
    if defrag and any(split.kept.values()):
        moving = _pack(
            inventory, fleet, slice_models, split.kept, split.fixed, taken, True, options
        )
        if moving.result.gpus_used < packed.result.gpus_used:
            reasons.append(
                f"defragmentation: moving {moving.result.moves} running slice(s) frees "
                f"{packed.result.gpus_used - moving.result.gpus_used} GPU(s)"
            )
            packed = moving
        else:
            reasons.append("defragmentation: moving running slices would free no GPU; none move")
    result = packed.result
    assignments += packed.kept
    assignments += [
        _assignment(result, p.gpu, p.item, p.profile, p.start, p.kept) for p in result.placed
    ]
    unplaced += [Unplaced(it.key, it.model, why) for it, why in result.unplaced]
    reasons += packed.reasons

    # GPUs outside the packer's problem that the plan uses all the same: whole-GPU replicas,
    # and closed GPUs that something still runs on.
    closed_used = {ref for ref in closed - multinode_gpus if ref in packed.closed_busy}
    multinode_count = len(multinode_gpus) + len(closed_used)
    bound = (
        result.gpus_used if result.proven_optimal else placed_lower_bound(packed.problem, result)
    )
    used_nodes = (
        {result.gpus[i].node for i in result.used_gpus}
        | {a.node for a in assignments}
        | {node for node, _ in closed_used}
    )
    cost = 0.0
    unpriced = []
    for node in sorted(used_nodes):
        price = _node_price(inventory, fleet, node)
        if price is None:
            unpriced.append(node)
        cost += price or 0.0
    if unpriced:
        reasons.append(f"no price for the instance type of {', '.join(unpriced)}: counted as 0")
    new_nodes = sorted(n for n in used_nodes if n not in {x.name for x in inventory.nodes})
    return Plan(
        gpus_used=result.gpus_used + multinode_count,
        lower_bound_gpus=bound + multinode_count,
        cost_per_hour=cost,
        moves=result.moves,
        assignments=tuple(assignments),
        unplaced=tuple(unplaced),
        reasons=tuple(reasons),
        solver=result.solver,
        extra={"new_nodes": new_nodes},
    )


def _pack(
    inventory: Inventory,
    fleet: Fleet,
    slice_models: dict[str, tuple[ModelDemand, tuple[SliceChoice, ...]]],
    kept: dict[str, list[Running]],
    fixed: list[Running],
    taken: set[GpuRef],
    movable: bool,
    options: PlacementOptions,
) -> _Packed:
    fixed_at: dict[GpuRef, list[tuple[str, int]]] = defaultdict(list)
    for r in fixed:
        fixed_at[r.gpu].append((r.profile, r.start))
    closed_busy = {r.gpu for r in fixed if r.gpu in taken}
    if not movable:
        for runs in kept.values():
            for r in runs:
                fixed_at[r.gpu].append((r.profile, r.start))
    gpus: list[GpuSlot] = []
    index: dict[GpuRef, int] = {}
    # Once, not per GPU: rebuilt per GPU it made 40,000 GPUs take 20 s (GPUs x nodes).
    existing = {n.name for n in inventory.nodes}
    for name, node in fleet.nodes.items():
        price = _node_price(inventory, fleet, name) or 0.0
        for i, g in enumerate(node.gpus):
            if (name, i) in taken:
                continue
            index[(name, i)] = len(gpus)
            gpus.append(
                GpuSlot(
                    name,
                    g.uuid,
                    g.model,
                    node.instance_type,
                    node.zone,
                    price,
                    tuple(fixed_at[(name, i)]),
                    existing=name in existing,
                )
            )
    items: list[Item] = []
    kept_assignments: list[Assignment] = []
    for name, (model, choices) in slice_models.items():
        if not choices:  # reported as unplaced by the caller
            continue
        runs = kept.get(name, [])
        used_names = {r.replica for r in runs if r.replica}
        fresh = (f"{name}-{n}" for n in range(10**9) if f"{name}-{n}" not in used_names)
        for r in runs:
            replica = r.replica or next(fresh)
            if r.gpu not in index:  # on a closed GPU: stays, never moves, takes no company
                closed_busy.add(r.gpu)
                slot = _closed_slot(inventory, fleet, r.gpu)
                kept_assignments.append(
                    _slot_assignment(slot, replica, name, r.profile, r.start, True)
                )
                continue
            home = (index[r.gpu], r.profile, r.start)
            if movable:
                items.append(Item(replica, name, choices, home))
            else:
                slot = gpus[home[0]]
                kept_assignments.append(
                    _slot_assignment(slot, replica, name, r.profile, r.start, True)
                )
        for _ in range(max(0, model.replicas - len(runs))):
            items.append(Item(next(fresh), name, choices))
    provision = tuple(
        Provision(
            t, fleet.remaining.get((t.name, t.zone), 0), fleet.next_index.get((t.name, t.zone), 0)
        )
        for t in inventory.instance_types
    )
    problem = Problem(tuple(gpus), tuple(items), provision, frozenset(fleet.used_nodes))
    result, reasons = _solve(problem, movable, options)
    return _Packed(result, problem, tuple(kept_assignments), reasons, frozenset(closed_busy))


def _closed_refs(inventory: Inventory, uuids: frozenset[str]) -> set[GpuRef]:
    if not uuids:
        return set()
    return {
        (node.name, i)
        for node in inventory.nodes
        for i, g in enumerate(node.gpus)
        if g.uuid and g.uuid in uuids
    }


def _closed_slot(inventory: Inventory, fleet: Fleet, ref: GpuRef) -> GpuSlot:
    node = fleet.nodes[ref[0]]
    g = node.gpus[ref[1]]
    price = _node_price(inventory, fleet, ref[0]) or 0.0
    return GpuSlot(ref[0], g.uuid, g.model, node.instance_type, node.zone, price)


def _solve(
    problem: Problem, movable: bool, options: PlacementOptions
) -> tuple[PackResult, tuple[str, ...]]:
    heuristic = pack_heuristic(problem, defragment=movable)
    if not problem.items:  # whole-GPU replicas only, or every slice kept: nothing was solved
        return replace(heuristic, solver=""), ()
    new_items = sum(1 for it in problem.items if it.home is None)
    label = "heuristic"
    if new_items <= options.exact_max_replicas:
        exact = try_pack_exact(problem, options.exact_time_limit_s)
        if isinstance(exact, str):
            why = exact
        elif exact.proven_optimal:
            return exact, (
                f"exact: HiGHS proved {exact.gpus_used} GPU(s) optimal for the slice replicas "
                f"(heuristic: {heuristic.gpus_used}{_unplaced_note(heuristic)}, "
                f"lower bound {placed_lower_bound(problem, exact)})",
                *exact.notes,
            )
        else:
            if _rank(exact) < _rank(heuristic):
                heuristic, label = exact, "exact solver's best plan"
            why = (
                f"exact solver hit its time limit ({options.exact_time_limit_s:g} s) "
                "before proving a plan optimal"
            )
    else:
        why = f"{new_items} replicas > exact_max_replicas={options.exact_max_replicas}"
    bound = placed_lower_bound(problem, heuristic)
    gap = 100.0 * (heuristic.gpus_used - bound) / bound if bound else 0.0
    return heuristic, (
        f"{label} ({why}): {heuristic.gpus_used} GPU(s), lower bound {bound} (gap {gap:.1f} %)",
    )


def _unplaced_note(result: PackResult) -> str:
    return f" with {len(result.unplaced)} unplaced" if result.unplaced else ""


def _rank(result: PackResult) -> tuple[int, int, int]:
    return (len(result.unplaced), result.gpus_used, result.moves)


def _assignment(
    result: PackResult, gpu: int, item: Item, profile: str, start: int, kept: bool
) -> Assignment:
    return _slot_assignment(result.gpus[gpu], item.key, item.model, profile, start, kept)


def _slot_assignment(
    slot: GpuSlot, replica: str, model: str, profile: str, start: int, kept: bool
) -> Assignment:
    return Assignment(
        replica=replica,
        model=model,
        node=slot.node,
        gpu=slot.uuid,
        gpu_model=slot.gpu_model,
        profile=profile,
        start=None if profile == WHOLE else start,
        instance_type=slot.instance_type,
        zone=slot.zone,
        kept=kept,
    )


def _node_price(inventory: Inventory, fleet: Fleet, node: str) -> float | None:
    n = fleet.nodes.get(node)
    if n is None:
        # A node the packer provisioned: "new:<type>:<zone>:<n>".
        _, type_name, zone, _ = node.split(":", 3)
        return inventory.price_per_hour(type_name, zone)
    return inventory.price_per_hour(n.instance_type, n.zone)


def _default_models(inventory: Inventory, catalog: Catalog) -> tuple[str, ...]:
    """GPU models the cluster has, in inventory order, then those it can provision (cheapest per
    GPU first): a model with no gpu_models list goes where GPUs already are."""
    seen: list[str] = []
    for node in inventory.nodes:
        for g in node.gpus:
            if g.model not in seen:
                seen.append(g.model)
    for t in sorted(inventory.instance_types, key=lambda t: t.price_per_hour / t.gpus):
        if t.gpu_model not in seen:
            seen.append(t.gpu_model)
    return tuple(m for m in seen if m in catalog)
