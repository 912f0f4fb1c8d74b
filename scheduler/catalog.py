"""The GPU catalog: GPU models and their MIG profiles, loaded from the shipped JSON.

`data/mig_profiles.json` is a copy of the reference table (shared/reference). Geometry: an
instance of a profile occupies memory slices [start, start + memory_slices) for one of the
profile's allowed starts; two instances conflict iff those ranges overlap; compute slices add up
to at most `compute_slices` per GPU.

Usable memory: the JSON gives nominal GB (from the profile name) and, where a real
`nvidia-smi mig -lgip` was found, the GiB it reported. Where the GiB is missing we scale the
nominal figure by the worst reported/nominal ratio seen anywhere in the table (0.889 for
H200 1g.18gb: 16.0 / 18), so sizing never promises memory a slice may not have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

WHOLE = "whole"  # Assignment.profile for a full GPU (MIG disabled)


@dataclass(frozen=True)
class MigProfile:
    name: str  # "3g.40gb"
    compute_slices: int
    memory_slices: int  # the placement size on the memory-slice axis
    memory_gb: int  # nominal, from the name
    usable_gib: float  # reported GiB, or the conservative estimate (module docstring)
    max_count: int
    starts: tuple[int, ...]  # allowed first memory slices
    verified: bool  # True only for placements seen on real hardware ("consistent" is False)
    media_extensions: bool  # "+me": at most one per GPU

    def span(self, start: int) -> range:
        return range(start, start + self.memory_slices)

    def mask(self, start: int) -> int:
        """Bit i set = memory slice i taken. 3g at start 4 on an 8-slice GPU: 0b1111_0000."""
        return ((1 << self.memory_slices) - 1) << start


@dataclass(frozen=True)
class GpuSpec:
    model: str  # catalog name, "H100-80GB"
    memory_gb: int
    memory_slices: int  # 8, or 4 on A30
    compute_slices: int  # 7, or 4 on A30
    profiles: tuple[MigProfile, ...]  # in the JSON's order: smallest first

    @property
    def whole_gib(self) -> float:
        """Memory of the full GPU: the largest profile's usable memory (a lower bound)."""
        return max(p.usable_gib for p in self.profiles)

    def profile(self, name: str) -> MigProfile:
        for p in self.profiles:
            if p.name == name:
                return p
        raise KeyError(f"{self.model} has no MIG profile {name!r}")

    def has_profile(self, name: str) -> bool:
        return any(p.name == name for p in self.profiles)

    @property
    def full_mask(self) -> int:
        return (1 << self.memory_slices) - 1


@dataclass(frozen=True)
class Catalog:
    gpus: tuple[GpuSpec, ...]

    def __contains__(self, model: object) -> bool:
        return any(g.model == model for g in self.gpus)

    def gpu(self, model: str) -> GpuSpec:
        for g in self.gpus:
            if g.model == model:
                return g
        raise KeyError(f"unknown GPU model {model!r}; known: {', '.join(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.model for g in self.gpus)

    def models_with_profile(self, profile: str) -> tuple[str, ...]:
        return tuple(g.model for g in self.gpus if g.has_profile(profile))


@cache
def load_catalog() -> Catalog:
    """The shipped catalog, parsed once per process."""
    text = resources.files("scheduler").joinpath("data/mig_profiles.json").read_text()
    return catalog_from_json(json.loads(text))


def catalog_from_json(data: dict[str, Any]) -> Catalog:
    entries = {k: v for k, v in data.items() if not k.startswith("_")}
    ratios = [
        p["memory_gib_reported"] / p["memory_gb"]
        for g in entries.values()
        for p in g["profiles"].values()
        if "memory_gib_reported" in p
    ]
    worst_ratio = min(ratios) if ratios else 0.9
    gpus = []
    for model, g in entries.items():
        profiles = tuple(
            MigProfile(
                name=name,
                compute_slices=int(p["compute_slices"]),
                memory_slices=int(p["placement_size"]),
                memory_gb=int(p["memory_gb"]),
                usable_gib=float(p.get("memory_gib_reported", p["memory_gb"] * worst_ratio)),
                max_count=int(p["max_count"]),
                starts=tuple(int(s) for s in p["placements"]),
                verified=p.get("verified") is True,
                media_extensions=name.endswith("+me"),
            )
            for name, p in g["profiles"].items()
        )
        gpus.append(
            GpuSpec(
                model=model,
                memory_gb=int(g["memory_gb"]),
                memory_slices=int(g["slices"]["memory"]),
                compute_slices=int(g["slices"]["compute"]),
                profiles=profiles,
            )
        )
    return Catalog(tuple(gpus))
