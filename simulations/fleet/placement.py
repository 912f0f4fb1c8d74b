"""Replicas placed on a GPU inventory during a replay: the simulator's one seam to `scheduler`.

`prewarm simulate --inventory FILE` keeps a copy of the inventory as the replay goes and asks
the pure placement core (`scheduler.place.plan_placement`) where each new replica goes, as the
placement controller does in a cluster:

- Our running replicas are written into the copy as in-use, unlabelled slices (or whole GPUs),
  so the core keeps them where they are and packs only the replicas still to place. What the
  file shows in use stays as it is all run long (another workload's); idle MIG instances are
  free space, and one a replica takes over is gone from the copy.
- A replica the core puts on a node it provisions ("new:<type>:<zone>:<n>") makes that node
  real in the copy (`sim-<type>-<zone>-<k>`, one fewer `available` of its type and zone), ready
  `node_provision_s` after the plan: replicas placed there wait for it, then cold-start.
  Provisioned nodes stay for the rest of the replay, like a cluster autoscaler's nodes within
  its scale-down delay.
- Only the heuristic packs (`exact_max_replicas=0`): a replay re-plans at every scale-up,
  hundreds of times, and the question here is whether the replicas fit, not the last GPU.

Worked number: an inventory of one idle 8-GPU node and `available: 1` more of its type, a model
of 4 GPUs a replica, a 120 s provisioning time and a 300 s cold start: replicas 0-1 land on
the node and serve after ~300 s; replica 2 provisions the second node and serves after ~420 s,
replica 3 shares it; replica 4 cannot be placed and never starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scheduler.catalog import WHOLE, load_catalog
from scheduler.demand import Demand, PlacementOptions, ReplicaNeed, check_demand
from scheduler.input_errors import PlacementInputError, parse, read_yaml
from scheduler.inventory import Gpu, InstanceType, Inventory, MigInstance, Node, load_inventory
from scheduler.packing.problem import NEW_NODE_PREFIX
from scheduler.place import plan_placement

# No model of the file can be ours by accident: replicas labelled with another name are fixed.
MODEL = "prewarm-simulated-model"
_OPTIONS = PlacementOptions(allow_defragment=False, exact_max_replicas=0)

Slot = tuple[str, int, str, int]  # (node, GPU index, MIG profile or WHOLE, start)


@dataclass(frozen=True)
class SimPlacement:
    """What a replay places replicas on: the inventory as read, and what one replica needs."""

    inventory: Inventory
    need: ReplicaNeed
    source: str = "inventory"  # the file, for reports


def load_sim_placement(
    inventory: Path, placement: Path | None, gpus_per_replica: int
) -> SimPlacement:
    """The inventory as `prewarm place` reads it, and one replica's needs: the `--placement`
    file (one `ReplicaNeed` mapping, as under the serve config's `placement.models`:
    `{mig_profile: 3g.40gb}`, `{memory_gib: 30}`, `{gpus_per_replica: 8, nodes_per_replica:
    2, gpu_models: [H100-80GB]}`), or without one the profile's `gpus_per_replica` whole GPUs
    on one node. Raises PlacementInputError (a ValueError) naming the file and every problem."""
    loaded = load_inventory(inventory)
    if placement is None:
        need = parse(ReplicaNeed, {"gpus_per_replica": gpus_per_replica}, "profile")
    else:
        need = parse(ReplicaNeed, read_yaml(placement), str(placement))
        problems = check_demand(Demand((need.model_demand(MODEL, 0),)))
        if problems:
            raise PlacementInputError(
                str(placement), [p.replace("models.0.", "", 1) for p in problems]
            )
    return SimPlacement(loaded, need, str(inventory))


def need_summary(need: ReplicaNeed) -> dict[str, Any]:
    """The keys given, for summary.json."""
    return need.model_dump(exclude_none=True)


@dataclass(frozen=True)
class PlacedReplica:
    slots: tuple[Slot, ...]
    node_ready_s: float  # when the last of its nodes is up (0 for nodes that exist)


@dataclass
class _GpuState:
    uuid: str
    model: str
    mig: list[MigInstance]
    in_use: bool  # the whole GPU: the file's, or one of our replicas'
    served_model: str | None = None
    replica: str | None = None


@dataclass
class _NodeState:
    name: str
    zone: str
    instance_type: str
    gpus: list[_GpuState]
    ready_s: float = 0.0


@dataclass
class Placer:
    """One replay's inventory and its placements (mutable; one per replay)."""

    placement: SimPlacement
    node_provision_s: float
    nodes: dict[str, _NodeState] = field(init=False)
    nodes_provisioned: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.nodes = {}
        self._by_uuid: dict[str, tuple[str, int]] = {}
        for node in self.placement.inventory.nodes:
            gpus = []
            for i, g in enumerate(node.gpus):
                # A blank uuid (a node seen only through labels) would make plans ambiguous.
                uuid = g.uuid or f"sim:{node.name}:{i}"
                gpus.append(
                    _GpuState(uuid, g.model, list(g.mig), g.in_use, g.served_model, g.replica)
                )
                self._by_uuid[uuid] = (node.name, i)
            self.nodes[node.name] = _NodeState(node.name, node.zone, node.instance_type, gpus)
        types = self.placement.inventory.instance_types
        self._available = {(t.name, t.zone): t.available for t in types}
        self._types = {(t.name, t.zone): t for t in self.placement.inventory.instance_types}
        self._catalog = load_catalog()

    def place(self, count: int, now_s: float, *, warm: bool = False) -> list[PlacedReplica]:
        """Places up to `count` more replicas; those it cannot place are left out of the list.
        `warm`: the fleet the replay starts with, whose nodes are up at t = 0."""
        if count <= 0:
            return []
        demand = Demand((self.placement.need.model_demand(MODEL, count),))
        plan = plan_placement(self._inventory(), demand, _OPTIONS)
        shares: dict[str, list[tuple[str, str, str, int | None, str, str]]] = {}
        for a in plan.assignments:
            shares.setdefault(a.replica, []).append(
                (a.node, a.gpu, a.profile, a.start, a.instance_type, a.zone)
            )
        made: dict[str, str] = {}  # the plan's "new:..." node -> the node made real here
        placed = []
        for share in shares.values():
            slots = []
            for node, uuid, profile, start, type_name, zone in share:
                if node.startswith(NEW_NODE_PREFIX):
                    if node not in made:
                        made[node] = self._provision(type_name, zone, now_s, warm)
                    name = made[node]
                    index = self._fit(name, profile, start or 0)
                else:
                    name, index = self._by_uuid[uuid]
                slots.append((name, index, profile, start or 0))
                self._take(name, index, profile, start or 0)
            ready_s = max(self.nodes[name].ready_s for name, _, _, _ in slots)
            placed.append(PlacedReplica(tuple(slots), ready_s))
        return placed

    def release(self, slots: tuple[Slot, ...]) -> None:
        for name, index, profile, start in slots:
            gpu = self.nodes[name].gpus[index]
            if profile == WHOLE:
                gpu.in_use = False
            else:
                ours = MigInstance(profile, start, in_use=True)
                gpu.mig = [m for m in gpu.mig if m != ours]

    def _inventory(self) -> Inventory:
        nodes = tuple(
            Node(
                n.name,
                n.zone,
                n.instance_type,
                tuple(
                    Gpu(g.uuid, g.model, tuple(g.mig), g.in_use, g.served_model, g.replica)
                    for g in n.gpus
                ),
            )
            for n in self.nodes.values()
        )
        types = tuple(
            InstanceType(t.name, t.zone, t.gpu_model, t.gpus, t.price_per_hour, self._available[k])
            for k, t in self._types.items()
        )
        return Inventory(nodes, types)

    def _provision(self, type_name: str, zone: str, now_s: float, warm: bool) -> str:
        t = self._types[(type_name, zone)]
        self._available[(type_name, zone)] -= 1
        k = 0
        while f"sim-{type_name}-{zone}-{k}" in self.nodes:
            k += 1
        name = f"sim-{type_name}-{zone}-{k}"
        gpus = [_GpuState(f"sim:{name}:{i}", t.gpu_model, [], False) for i in range(t.gpus)]
        for i, g in enumerate(gpus):
            self._by_uuid[g.uuid] = (name, i)
        ready_s = 0.0 if warm else now_s + self.node_provision_s
        self.nodes[name] = _NodeState(name, zone, type_name, gpus, ready_s)
        if not warm:
            self.nodes_provisioned += 1
        return name

    def _fit(self, name: str, profile: str, start: int) -> int:
        """Which GPU of a node just made real a planned share goes on: the plan names the node
        but not the GPU ("new:" GPUs have no uuid). One model's replicas all ask for the same
        thing, so the first GPU with room is as good as the packer's."""
        for i, gpu in enumerate(self.nodes[name].gpus):
            if self._room(gpu, profile, start):
                return i
        raise AssertionError(f"the plan put more on {name} than it holds")  # a packer bug

    def _room(self, gpu: _GpuState, profile: str, start: int) -> bool:
        if gpu.in_use:
            return False
        busy = [m for m in gpu.mig if m.in_use]
        if profile == WHOLE:
            return not busy
        spec = self._catalog.gpu(gpu.model)
        want = set(spec.profile(profile).span(start))
        used = {s for m in busy for s in spec.profile(m.profile).span(m.start)}
        compute = sum(spec.profile(m.profile).compute_slices for m in busy)
        return not want & used and compute + spec.profile(profile).compute_slices <= (
            spec.compute_slices
        )

    def _take(self, name: str, index: int, profile: str, start: int) -> None:
        gpu = self.nodes[name].gpus[index]
        if profile == WHOLE:
            gpu.in_use, gpu.mig = True, []
            return
        spec = self._catalog.gpu(gpu.model)
        span = set(spec.profile(profile).span(start))
        # An idle instance under the new one was reused or recreated: it is gone.
        gpu.mig = [
            m for m in gpu.mig if m.in_use or not span & set(spec.profile(m.profile).span(m.start))
        ]
        gpu.mig.append(MigInstance(profile, start, in_use=True))
