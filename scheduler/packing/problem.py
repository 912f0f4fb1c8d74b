"""The packing problem both solvers read, and the result both return.

A `GpuSlot` is a GPU the packer may use: one that exists, or one of a node that would be
provisioned ("new:<type>:<zone>:<n>", uuid ""). `fixed` instances stay where they are (running
slices, or whole GPUs already allocated); a GPU with any fixed instance is used whatever the plan.
An `Item` is one replica to place, with its choices in preference order; `home` is where it runs
now when defragmentation may move it (moving it is a counted move).
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.inventory import InstanceType
from scheduler.sizing import SliceChoice

NEW_NODE_PREFIX = "new:"


@dataclass(frozen=True)
class GpuSlot:
    node: str
    uuid: str
    gpu_model: str
    instance_type: str
    zone: str
    node_price_per_hour: float
    fixed: tuple[tuple[str, int], ...] = ()  # (profile, start) that stay; WHOLE start 0
    existing: bool = True  # False: on a node the plan provisions

    @property
    def busy(self) -> bool:
        return bool(self.fixed)


@dataclass(frozen=True)
class Item:
    key: str  # the replica name, unique
    model: str
    choices: tuple[SliceChoice, ...]
    home: tuple[int, str, int] | None = None  # (gpu index, profile, start) it may move from


@dataclass(frozen=True)
class Provision:
    """An instance type the packer may still provision, and what to call its next node."""

    instance_type: InstanceType
    remaining: int  # nodes left after earlier steps (multi-node replicas) took theirs
    next_index: int = 0  # first n in "new:<type>:<zone>:<n>" still free

    def node_name(self, n: int) -> str:
        t = self.instance_type
        return f"{NEW_NODE_PREFIX}{t.name}:{t.zone}:{n}"


@dataclass(frozen=True)
class Problem:
    gpus: tuple[GpuSlot, ...]
    items: tuple[Item, ...]
    provision: tuple[Provision, ...] = ()
    used_nodes: frozenset[str] = frozenset()  # nodes already paid for (busy, or taken earlier)


@dataclass(frozen=True)
class Placed:
    item: Item
    gpu: int  # index into PackResult.gpus
    profile: str
    start: int
    kept: bool = False  # the item's home: not a move


@dataclass(frozen=True)
class PackResult:
    gpus: tuple[GpuSlot, ...]  # the problem's GPUs plus any on nodes it provisioned
    placed: tuple[Placed, ...]
    unplaced: tuple[tuple[Item, str], ...]
    solver: str  # "exact" (proved) | "heuristic" | "" (no items: nothing was solved)
    proven_optimal: bool = False
    notes: tuple[str, ...] = ()

    @property
    def used_gpus(self) -> frozenset[int]:
        return frozenset(p.gpu for p in self.placed) | {
            i for i, g in enumerate(self.gpus) if g.busy
        }

    @property
    def gpus_used(self) -> int:
        return len(self.used_gpus)

    @property
    def moves(self) -> int:
        return sum(1 for p in self.placed if p.item.home is not None and not p.kept)

    def cost_per_hour(self, already_paid: frozenset[str] = frozenset()) -> float:
        """Sum of node prices over nodes with a used GPU (each node once)."""
        prices = {self.gpus[i].node: self.gpus[i].node_price_per_hour for i in self.used_gpus}
        return sum(p for node, p in prices.items() if node not in already_paid)
