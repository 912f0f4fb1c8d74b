"""The live inventory: four informers (Nodes, our driver's ResourceSlices, ResourceClaims, the
Pods that opted into placement) whose stores make the same lists `inventory_reader` reads once,
so the pure `inventory_from_api` turns them into the inventory the reconcile core places on.

`changed` is set on every change of any of them; the controller loop clears it, reconciles,
and waits for it again (many changes between two turns make one turn). Until all four have
listed once there is no inventory (None): the loop then holds the last plan rather than plan
on a partial cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kubernetes_asyncio.client import ApiClient

from scheduler.input_errors import PlacementInputError
from scheduler.inventory import Inventory, inventory_from_dict
from scheduler.kubernetes.admission import PLACEMENT_ENABLED, PLACEMENT_LABEL
from scheduler.kubernetes.api_resources import NODES, PODS, RESOURCE_CLAIMS, RESOURCE_SLICES
from scheduler.kubernetes.backoff import Backoff, Sleep
from scheduler.kubernetes.informer import Change, Informer
from scheduler.kubernetes.inventory import DRIVER, inventory_from_api


class InventoryWatch:
    def __init__(self, api: ApiClient, *, sleep: Sleep = asyncio.sleep) -> None:
        self.changed = asyncio.Event()
        self.last_error: str | None = None

        def informer(resource: Any, **selectors: str) -> Informer:
            return Informer(
                api,
                resource,
                on_change=self._on_change,
                backoff=Backoff(sleep=sleep),
                **selectors,  # type: ignore[arg-type]
            )

        self.nodes = informer(NODES)
        self.slices = informer(RESOURCE_SLICES, field_selector=f"spec.driver={DRIVER}")
        self.claims = informer(RESOURCE_CLAIMS)
        self.pods = informer(PODS, label_selector=f"{PLACEMENT_LABEL}={PLACEMENT_ENABLED}")
        self.informers = (self.nodes, self.slices, self.claims, self.pods)

    def _on_change(self, change: Change) -> None:
        self.changed.set()

    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self.informers)

    async def run(self) -> None:
        """The four informers, until cancelled."""
        tasks = [asyncio.create_task(i.run()) for i in self.informers]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def inventory_json(self) -> dict[str, Any] | None:
        if not self.synced():
            return None
        return inventory_from_api(
            self.nodes.snapshot(),
            self.slices.snapshot(),
            self.claims.snapshot(),
            self.pods.snapshot(),
        )

    def inventory(self, instance_types: list[dict[str, Any]] | None = None) -> Inventory | None:
        """The checked inventory, or None (not synced yet, or the cluster reads as something
        the core would refuse: `last_error` says what)."""
        found = self.inventory_json()
        if found is None:
            self.last_error = "not every informer has listed yet"
            return None
        try:
            inventory = inventory_from_dict(
                {**found, "instance_types": instance_types or []}, "cluster inventory"
            )
        except PlacementInputError as exc:
            self.last_error = str(exc)
            return None
        self.last_error = None
        return inventory
