"""The inventory the packer reads: nodes with their GPUs and existing MIG instances, and the
instance types that can still be provisioned per zone.

    nodes:
      - {name, zone, instance_type,
         gpus: [{uuid, model, in_use?, mig: [{profile, start, in_use, model?, replica?}]}]}
    instance_types:
      - {name, zone, gpu_model, gpus, price_per_hour, available}

`mig` lists MIG instances that exist now; `in_use` says a running replica is on one. `model` /
`replica` (optional) say whose replica: only labelled instances can count as kept replicas of a
demanded model or be moved by defragmentation. A GPU's own `in_use` (the Kubernetes inventory
reader sets it) means the whole GPU is allocated. `available` is how many more nodes of a type
can be provisioned in that zone; 0 means the zone is short of it.

The YAML shape is checked by pydantic, then `check_inventory` checks meaning against the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator

from scheduler.catalog import Catalog, load_catalog
from scheduler.input_errors import PlacementInputError, Strict, parse, read_yaml
from scheduler.input_limits import MAX_GPUS_PER_NODE, MAX_INVENTORY_GPUS, MAX_MIG_PER_GPU


@dataclass(frozen=True)
class MigInstance:
    profile: str
    start: int
    in_use: bool = False
    model: str | None = None  # the served model whose replica runs here, when known
    replica: str | None = None


@dataclass(frozen=True)
class Gpu:
    uuid: str  # "" when unknown (a node seen only through labels) or not yet provisioned
    model: str  # catalog GPU model
    mig: tuple[MigInstance, ...] = ()
    in_use: bool = False  # the whole GPU is allocated (MIG disabled)
    served_model: str | None = None  # whose replica holds the whole GPU, when known
    replica: str | None = None

    @property
    def busy(self) -> bool:
        """Something runs here: the plan must keep this GPU."""
        return self.in_use or any(m.in_use for m in self.mig)


@dataclass(frozen=True)
class Node:
    name: str
    zone: str
    instance_type: str
    gpus: tuple[Gpu, ...]


@dataclass(frozen=True)
class InstanceType:
    name: str
    zone: str
    gpu_model: str
    gpus: int
    price_per_hour: float
    available: int  # more nodes that can be provisioned in this zone


@dataclass(frozen=True)
class Inventory:
    nodes: tuple[Node, ...] = ()
    instance_types: tuple[InstanceType, ...] = ()

    def price_per_hour(self, instance_type: str, zone: str) -> float | None:
        """The node price for (type, zone); any zone's price for the type if that zone is not
        listed (an existing node in a zone we cannot provision in still has a price)."""
        same_type = [t for t in self.instance_types if t.name == instance_type]
        for t in same_type:
            if t.zone == zone:
                return t.price_per_hour
        return same_type[0].price_per_hour if same_type else None


class _MigIn(Strict):
    profile: str = Field(min_length=1)
    start: int = Field(ge=0)
    in_use: bool = False
    model: str | None = Field(None, min_length=1)
    replica: str | None = Field(None, min_length=1)


class _GpuIn(Strict):
    uuid: str = ""
    model: str
    in_use: bool = False
    served_model: str | None = Field(None, min_length=1)
    replica: str | None = Field(None, min_length=1)
    mig: list[_MigIn] = Field([], max_length=MAX_MIG_PER_GPU)

    @field_validator("model")
    @classmethod
    def _known(cls, value: str) -> str:
        return _known_gpu_model(value)


class _NodeIn(Strict):
    name: str = Field(min_length=1)
    zone: str = ""
    instance_type: str = ""
    gpus: list[_GpuIn] = []

    @field_validator("gpus", mode="before")
    @classmethod
    def _few_enough(cls, value: object) -> object:
        # Before the GPUs are validated one by one: 200,000 of them on one node is a typo or
        # a hostile file, and the exact solver would see them all at once.
        if isinstance(value, list) and len(value) > MAX_GPUS_PER_NODE:
            raise ValueError(
                f"{len(value):,} GPUs on one node, over the limit of {MAX_GPUS_PER_NODE} "
                "(MAX_GPUS_PER_NODE; the largest nodes have 16)"
            )
        return value


class _InstanceTypeIn(Strict):
    name: str = Field(min_length=1)
    zone: str = Field(min_length=1)
    gpu_model: str
    gpus: int = Field(ge=1, le=MAX_GPUS_PER_NODE)
    price_per_hour: float = Field(ge=0)
    available: int = Field(ge=0)

    @field_validator("gpu_model")
    @classmethod
    def _known(cls, value: str) -> str:
        return _known_gpu_model(value)


class _InventoryIn(Strict):
    nodes: list[_NodeIn] = []
    instance_types: list[_InstanceTypeIn] = []


def _known_gpu_model(value: str) -> str:
    catalog = load_catalog()
    if value not in catalog:
        raise ValueError(f"unknown GPU model {value!r}; known: {', '.join(catalog.names)}")
    return value


def load_inventory(path: Path) -> Inventory:
    return inventory_from_dict(read_yaml(path), str(path))


def inventory_from_dict(data: object, source: str = "inventory") -> Inventory:
    parsed = parse(_InventoryIn, data, source)
    gpus = sum(len(n.gpus) for n in parsed.nodes)
    if gpus > MAX_INVENTORY_GPUS:
        limit = f"{MAX_INVENTORY_GPUS:,} (MAX_INVENTORY_GPUS)"
        raise PlacementInputError(source, [f"nodes: {gpus:,} GPUs, over the limit of {limit}"])
    inventory = Inventory(
        nodes=tuple(
            Node(
                name=n.name,
                zone=n.zone,
                instance_type=n.instance_type,
                gpus=tuple(
                    Gpu(
                        uuid=g.uuid,
                        model=g.model,
                        in_use=g.in_use,
                        served_model=g.served_model,
                        replica=g.replica,
                        mig=tuple(MigInstance(**m.model_dump()) for m in g.mig),
                    )
                    for g in n.gpus
                ),
            )
            for n in parsed.nodes
        ),
        instance_types=tuple(InstanceType(**t.model_dump()) for t in parsed.instance_types),
    )
    problems = check_inventory(inventory)
    if problems:
        raise PlacementInputError(source, problems)
    return inventory


def check_inventory(inventory: Inventory, catalog: Catalog | None = None) -> list[str]:
    """Every problem of meaning, as "<dotted path>: <problem>"; [] when the inventory is sound."""
    catalog = catalog or load_catalog()
    problems: list[str] = []
    node_names: dict[str, int] = {}
    uuids: dict[str, str] = {}
    for i, node in enumerate(inventory.nodes):
        if node.name in node_names:
            also = node_names[node.name]
            problems.append(f"nodes.{i}.name: duplicate node {node.name!r} (also nodes.{also})")
        node_names.setdefault(node.name, i)
        for j, gpu in enumerate(node.gpus):
            where = f"nodes.{i}.gpus.{j}"
            if gpu.uuid:
                if gpu.uuid in uuids:
                    problems.append(
                        f"{where}.uuid: duplicate GPU uuid {gpu.uuid!r} (also {uuids[gpu.uuid]})"
                    )
                uuids.setdefault(gpu.uuid, where)
            problems += _check_gpu(gpu, where, catalog)
    seen_types: set[tuple[str, str]] = set()
    for k, t in enumerate(inventory.instance_types):
        if (t.name, t.zone) in seen_types:
            problems.append(
                f"instance_types.{k}: duplicate instance type {t.name!r} in zone {t.zone!r}"
            )
        seen_types.add((t.name, t.zone))
    return problems


def _check_gpu(gpu: Gpu, where: str, catalog: Catalog) -> list[str]:
    spec = catalog.gpu(gpu.model)
    problems = []
    if gpu.in_use and gpu.mig:
        problems.append(f"{where}.in_use: a whole GPU in use cannot also hold MIG instances")
    taken: dict[int, int] = {}  # memory slice -> index of the instance holding it
    counts: dict[str, int] = {}
    compute = 0
    for k, m in enumerate(gpu.mig):
        at = f"{where}.mig.{k}"
        if not spec.has_profile(m.profile):
            known = ", ".join(p.name for p in spec.profiles)
            problems.append(f"{at}.profile: {m.profile!r} is not a {gpu.model} profile ({known})")
            continue
        profile = spec.profile(m.profile)
        if m.start not in profile.starts:
            allowed = ", ".join(str(s) for s in profile.starts)
            problems.append(
                f"{at}.start: {m.start} is not an allowed start for {m.profile} on "
                f"{gpu.model} ({allowed})"
            )
            continue
        clash = sorted({taken[s] for s in profile.span(m.start) if s in taken})
        if clash:
            problems.append(
                f"{at}: {m.profile}@{m.start} overlaps memory slices of "
                + ", ".join(f"{where}.mig.{c}" for c in clash)
            )
        for s in profile.span(m.start):
            taken.setdefault(s, k)
        counts[m.profile] = counts.get(m.profile, 0) + 1
        if counts[m.profile] == profile.max_count + 1:
            problems.append(
                f"{at}.profile: more than {profile.max_count} {m.profile} on one {gpu.model}"
            )
        compute += profile.compute_slices
    if compute > spec.compute_slices:
        problems.append(
            f"{where}.mig: {compute} compute slices exceed the {spec.compute_slices} of a "
            f"{gpu.model}"
        )
    return problems
