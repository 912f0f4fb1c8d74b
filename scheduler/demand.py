"""What to place: per served model, how many replicas and what one replica needs.

    allow_defragment: false          # operator option: may running slices move to free GPUs?
    models:
      - {name, replicas, mig_profile: 3g.40gb, gpu_models?: [H100-80GB, A100-80GB]}
      - {name, replicas, memory_gib: 30}
      - {name, replicas, gpus_per_replica: 8, nodes_per_replica: 2, gpu_models?: [H100-80GB]}

Exactly one of `mig_profile`, `memory_gib`, `gpus_per_replica` says what a replica needs.
`gpus_per_replica` counts whole GPUs on EACH node of the replica, so the 405B example above
takes 8 x 2 = 16 GPUs on two nodes of one instance type in one zone. `gpu_models` restricts the
GPU models a model may use, in order of preference; without it every catalog model that can
hold the replica is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from scheduler.catalog import Catalog, load_catalog
from scheduler.input_errors import PlacementInputError, Strict, parse, read_yaml
from scheduler.input_limits import (
    MAX_DEMAND_GPUS,
    MAX_DEMAND_REPLICAS,
    MAX_GPUS_PER_NODE,
    MAX_NODES_PER_REPLICA,
)


@dataclass(frozen=True)
class ModelDemand:
    name: str
    replicas: int
    mig_profile: str | None = None
    memory_gib: float | None = None
    gpus_per_replica: int | None = None  # whole GPUs on each node of one replica
    nodes_per_replica: int = 1
    gpu_models: tuple[str, ...] = ()  # allowed, in order of preference; () = any

    @property
    def whole_gpus(self) -> bool:
        """Needs whole GPUs on whole nodes: placed by `multinode`, not by the slice packer."""
        return self.gpus_per_replica is not None


@dataclass(frozen=True)
class Demand:
    models: tuple[ModelDemand, ...]
    allow_defragment: bool = False


@dataclass(frozen=True)
class PlacementOptions:
    allow_defragment: bool | None = None  # None: the demand's `allow_defragment` decides
    exact_max_replicas: int = 50  # new slice replicas up to which the ILP is tried
    exact_time_limit_s: float = 10.0  # past it the heuristic's plan is used
    # GPU uuids that take no new replica (DCGM: unhealthy or throttled); what runs there stays
    # unless the model shrinks, when it is released first (running.py).
    closed_gpus: frozenset[str] = frozenset()


class ReplicaNeed(Strict):
    """What one replica of a model needs, as an input file or config gives it: exactly one of
    `mig_profile`, `memory_gib`, `gpus_per_replica` (module docstring). Shared by demand.yaml's
    models and the placement controller's per-model settings (scheduler/controller)."""

    mig_profile: str | None = Field(None, min_length=1)
    memory_gib: float | None = Field(None, gt=0)
    gpus_per_replica: int | None = Field(None, ge=1, le=MAX_GPUS_PER_NODE)
    nodes_per_replica: int | None = Field(None, ge=1, le=MAX_NODES_PER_REPLICA)
    gpu_models: list[str] | None = None

    @field_validator("gpu_models")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        catalog = load_catalog()
        unknown = [m for m in value or [] if m not in catalog]
        if unknown:
            raise ValueError(
                f"unknown GPU model(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(catalog.names)}"
            )
        if value is not None and not value:
            raise ValueError("an empty list allows no GPU at all; leave it out to allow any")
        return value

    @model_validator(mode="after")
    def _one_need(self) -> ReplicaNeed:
        given = [k for k in ("mig_profile", "memory_gib", "gpus_per_replica") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of mig_profile, memory_gib, gpus_per_replica"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.nodes_per_replica is not None and self.gpus_per_replica is None:
            raise ValueError("nodes_per_replica goes with gpus_per_replica")
        return self

    def model_demand(self, name: str, replicas: int) -> ModelDemand:
        return ModelDemand(
            name=name,
            replicas=replicas,
            mig_profile=self.mig_profile,
            memory_gib=self.memory_gib,
            gpus_per_replica=self.gpus_per_replica,
            nodes_per_replica=self.nodes_per_replica or 1,
            gpu_models=tuple(self.gpu_models or ()),
        )


class _ModelIn(ReplicaNeed):
    name: str = Field(min_length=1)
    replicas: int = Field(ge=0, le=MAX_DEMAND_REPLICAS)


class _DemandIn(Strict):
    models: list[_ModelIn]
    allow_defragment: bool = False


def load_demand(path: Path) -> Demand:
    return demand_from_dict(read_yaml(path), str(path))


def demand_from_dict(data: object, source: str = "demand") -> Demand:
    parsed = parse(_DemandIn, data, source)
    demand = Demand(
        models=tuple(m.model_demand(m.name, m.replicas) for m in parsed.models),
        allow_defragment=parsed.allow_defragment,
    )
    problems = check_demand(demand)
    if problems:
        raise PlacementInputError(source, problems)
    return demand


def check_demand(demand: Demand, catalog: Catalog | None = None) -> list[str]:
    catalog = catalog or load_catalog()
    problems = _too_large(demand)
    first: dict[str, int] = {}
    for i, m in enumerate(demand.models):
        if m.name in first:
            problems.append(
                f"models.{i}.name: duplicate model {m.name!r} (also models.{first[m.name]})"
            )
        first.setdefault(m.name, i)
        repeated = sorted({g for g in m.gpu_models if m.gpu_models.count(g) > 1})
        if repeated:  # a GPU model twice would be two choices for one slice in the packers
            problems.append(
                f"models.{i}.gpu_models: {', '.join(map(repr, repeated))} listed more than once "
                f"for model {m.name!r}; list each GPU model once"
            )
        if m.mig_profile is not None:
            allowed = m.gpu_models or catalog.names
            if not any(catalog.gpu(g).has_profile(m.mig_profile) for g in allowed):
                having = catalog.models_with_profile(m.mig_profile)
                problems.append(
                    f"models.{i}.mig_profile: {m.mig_profile!r} exists on "
                    + (", ".join(having) if having else "no catalog GPU")
                    + (f", not on {', '.join(m.gpu_models)}" if m.gpu_models and having else "")
                )
    return problems


def _too_large(demand: Demand) -> list[str]:
    """The demand's totals past what the planner can plan in minutes (see input_limits)."""
    problems = []
    replicas = sum(m.replicas for m in demand.models)
    if replicas > MAX_DEMAND_REPLICAS:
        problems.append(
            f"models: {replicas:,} replicas in all, over the limit of {MAX_DEMAND_REPLICAS:,} "
            "(MAX_DEMAND_REPLICAS)"
        )
    gpus = sum(m.replicas * (m.gpus_per_replica or 0) * m.nodes_per_replica for m in demand.models)
    if gpus > MAX_DEMAND_GPUS:
        problems.append(
            f"models: {gpus:,} whole GPUs in all (replicas x gpus_per_replica x "
            f"nodes_per_replica), over the limit of {MAX_DEMAND_GPUS:,} (MAX_DEMAND_GPUS)"
        )
    return problems
