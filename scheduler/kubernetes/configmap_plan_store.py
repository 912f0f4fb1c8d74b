"""The plan the webhook serves from, in ConfigMap mode: the placement controller's per-model
ConfigMaps, watched with an informer (list, then watch from the resourceVersion; a 410
re-lists; errors back off), instead of a mounted plan.json.

Same face as `PlanStore` (plan_store.py): `current` (a `LoadedPlan`, swapped whole; requests
never wait on the API), `last_error` for /healthz, `check()` and `watch()` for the webhook's
lifespan. Every change marks the plan stale; one rebuild runs per burst (the informer's
first list delivers every ConfigMap at once). The placements are computed from each
ConfigMap's `plan.json` by `model_placements`, the code that rendered its `placement.json`,
so file mode and ConfigMap mode inject the same patches for the same plan.

A ConfigMap that does not read (see plan_configmaps.py) keeps its model's previous placement
in force and says why in `last_error`, as a bad plan.json keeps the previous plan in file
mode. A deleted ConfigMap removes its model: the controller deletes one only for a model
that left its settings. Until the first list, `current` is None: pods are admitted unplaced
with a warning, as with no plan file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from kubernetes_asyncio.client import ApiClient

from scheduler.kubernetes.api_resources import CONFIGMAPS
from scheduler.kubernetes.backoff import Backoff, Sleep
from scheduler.kubernetes.informer import Change, Informer
from scheduler.kubernetes.manifests import MANAGED_BY
from scheduler.kubernetes.plan_configmaps import plan_from_configmaps
from scheduler.kubernetes.plan_store import LoadedPlan, label_index

log = logging.getLogger("prewarm.placement")
Connect = Callable[[], AbstractAsyncContextManager[ApiClient]]


class ConfigMapPlanStore:
    def __init__(self, connect: Connect, namespace: str, *, sleep: Sleep = asyncio.sleep) -> None:
        self.connect = connect
        self.namespace = namespace
        self.sleep = sleep
        self.current: LoadedPlan | None = None
        self.last_error: str | None = None
        self.informer: Informer | None = None
        self._scheduled = False

    def check(self) -> bool:
        """Nothing to poll: the watch pushes changes (kept for the webhook's lifespan)."""
        return False

    async def watch(self, interval_s: float = 0.0) -> None:
        """Lists and watches the ConfigMaps until cancelled (`interval_s` is file mode's)."""
        async with self.connect() as api:
            self.informer = Informer(
                api,
                CONFIGMAPS,
                namespace=self.namespace,
                label_selector=",".join(f"{k}={v}" for k, v in MANAGED_BY.items()),
                on_change=self._changed,
                backoff=Backoff(sleep=self.sleep),
            )
            await self.informer.run()

    def _changed(self, change: Change) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.rebuild)

    def rebuild(self) -> None:
        self._scheduled = False
        if self.informer is None:
            return
        items = [self.informer.store[k] for k in sorted(self.informer.store)]
        stored = plan_from_configmaps(items)
        placements = dict(stored.placements)
        previous = self.current.placements if self.current else {}
        for model in stored.skipped:  # a bad ConfigMap keeps the model's last good placement
            if model in previous and model not in placements:
                placements[model] = previous[model]
        self.last_error = "; ".join(stored.problems) or None
        if self.last_error:
            log.warning("placement ConfigMap rejected", extra={"error": self.last_error})
        if self.current is not None and placements == self.current.placements:
            return
        generation = (self.current.generation if self.current else 0) + 1
        self.current = LoadedPlan(placements, generation, label_index(placements))
        log.info(
            "plan loaded from ConfigMaps",
            extra={"generation": generation, "models": sorted(placements)},
        )
