"""The plan the webhook serves from: loaded from plan.json, reloaded when the file changes.

The file is usually a mounted ConfigMap, which the kubelet updates by swapping a symlink, so
the fingerprint is (inode, mtime, size) of the file the path resolves to
(autoscaler/file_watch.py). A new file that does not parse or validate is logged and kept out:
the previous plan stays in force, and /healthz shows the error. Requests never read the file:
they see `current`, swapped whole.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from autoscaler.clock import Clock, SystemClock
from autoscaler.file_watch import Reloading, poll
from scheduler.kubernetes.dns_names import label_value
from scheduler.kubernetes.placement import ModelPlacement
from scheduler.kubernetes.plan_file import PlanFileError, load_plan

log = logging.getLogger("prewarm.placement")


@dataclass(frozen=True)
class LoadedPlan:
    placements: dict[str, ModelPlacement]  # by exact model name
    generation: int  # 1 for the first plan loaded, +1 per accepted reload
    by_label: dict[str, str] = field(default_factory=dict)  # label-safe name -> model

    def find(self, model: str) -> ModelPlacement | None:
        """By exact name, or by the label-safe form a `prewarm.dev/model` label can hold."""
        if model in self.placements:
            return self.placements[model]
        exact = self.by_label.get(model)
        return None if exact is None else self.placements[exact]


class PlanStore:
    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self.clock: Clock = clock or SystemClock()
        self.current: LoadedPlan | None = None
        self.last_error: str | None = None
        self._plan = Reloading(
            (path,),
            self._load,
            what="plan",
            log=log,
            expected=(PlanFileError,),
            load_now=False,
            details=lambda plan: {"models": sorted(plan.placements), "path": str(path)},
        )
        self._lock = asyncio.Lock()

    def check(self) -> bool:
        """Loads the file if it changed since the last try; True when a new plan took over."""
        adopted = self._plan.refresh()
        self.current, self.last_error = self._plan.value, self._plan.last_error
        return adopted

    async def watch(self, interval_s: float) -> None:
        async def check() -> None:
            async with self._lock:
                await asyncio.to_thread(self.check)

        await poll(self.clock, interval_s, check, log=log, what="plan", first_now=True)

    def _load(self) -> LoadedPlan:
        _, placements = load_plan(self.path)
        generation = (self.current.generation if self.current else 0) + 1
        return LoadedPlan(placements, generation, label_index(placements))


class PlanSource(Protocol):
    """What the webhook reads its plan from: this file store, or the placement ConfigMaps
    (configmap_plan_store.py)."""

    current: LoadedPlan | None
    last_error: str | None

    def check(self) -> bool: ...

    async def watch(self, interval_s: float) -> None: ...


def label_index(placements: dict[str, ModelPlacement]) -> dict[str, str]:
    """Label-safe model name -> exact name; names two models share are left out."""
    index: dict[str, str] = {}
    ambiguous = set()
    for model in placements:
        key = label_value(model)
        if key in index and index[key] != model:
            ambiguous.add(key)
        index.setdefault(key, model)
    for key in ambiguous:  # two models with one label form: only their exact names match
        log.warning("model label is ambiguous", extra={"label": key})
        del index[key]
    return index


_label_index = label_index  # the name tests imported before the ConfigMap store shared it
