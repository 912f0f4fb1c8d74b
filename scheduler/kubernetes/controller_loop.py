"""The placement controller's loop: watched inventory + the scaler's decisions -> `reconcile`
(the pure core, in a thread) -> while leading, the diff written by server-side apply ->
Events on each model's workload and Prometheus metrics.

    PlacementLoop(api, settings, clock, decisions=..., inventory=InventoryWatch(api), ...)
    await loop.run(stop)        # the watch, the Lease, and a turn per burst of changes

When a turn runs: the inventory changed (any informer event), the scaler published a new
decision (`poke()`, the seam `prewarm serve` calls), this replica became leader, a failed
write is due for its retry, or `resync_s` passed. A burst of changes waits `debounce_s` and
makes one turn: a node joining lists, labels and slices within a second.

What a turn does, and the failure rules:
1. Not leading: nothing (followers keep their informers warm and hold no plan). On taking
   the Lease, the first turn reads the plan back from the placement ConfigMaps
   (plan_configmaps.py): the new leader continues its predecessor's plan, so replicas
   planned but not yet running stay, and nothing is written twice. If they cannot be read
   the turn fails and retries: planning from nothing would move every pending replica.
2. Demand from the decisions (scale_demand.py: max(now, forecast at the horizon); a model
   without a decision holds the last plan's replicas).
3. `reconcile` in a worker thread, so the watches and the Lease keep running. An inventory
   that cannot be read (informers not synced, or a cluster the core would refuse) holds
   the last plan: nothing is written, the metric and the log say why.
4. The diff is written through `write_diff` (templates, ConfigMaps, deletions). API errors
   and conflicts are retried inside the writer with backoff; if the turn still fails, its
   plan is not adopted: the next turn (after the loop's own backoff) computes the same
   diff from the same last plan and writes it again, idempotently. Deletions go through
   `delete_if_recreatable`, which never deletes what it could not put back. A replica that
   loses the Lease mid-write stops before its next request (`NotLeader`).
5. Events (placement_events.py) and metrics (controller_metrics.py). Unplaceable demand is
   reported per model with its reason, while the rest is placed and written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from autoscaler.clock import Clock
from scheduler.controller.reconcile import HealthReport, ReconcileResult, reconcile
from scheduler.controller.scale_demand import ModelScale, demand_from_scale
from scheduler.controller.settings import ControllerSettings
from scheduler.inventory import Inventory
from scheduler.kubernetes.api_resources import CONFIGMAPS
from scheduler.kubernetes.backoff import Backoff, Sleep
from scheduler.kubernetes.controller_metrics import ControllerMetrics
from scheduler.kubernetes.diff_writer import WriteReport, write_diff
from scheduler.kubernetes.events import EventRecorder, InvolvedObject
from scheduler.kubernetes.inventory_reader import list_all
from scheduler.kubernetes.leader_election import LeaderElector
from scheduler.kubernetes.manifests import MANAGED_BY, placement_configmap_name
from scheduler.kubernetes.placement_events import placement_events
from scheduler.kubernetes.plan_configmaps import plan_from_configmaps
from scheduler.kubernetes.ssa_writer import ApplyConflict, NotLeader, SsaWriter
from scheduler.plan import Plan

log = logging.getLogger("prewarm.placement")
API_ERRORS = (ApiException, ApplyConflict, aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True)
class ModelDecision:
    """What the scaler decided for one model, and the object its Events go on (the
    ScaledObject that scales it; None: the model's placement ConfigMap)."""

    scale: ModelScale
    workload: InvolvedObject | None = None


Decisions = Callable[[], Mapping[str, ModelDecision]]
HealthFeed = Callable[[float], Awaitable[HealthReport | None]]


class InventorySource(Protocol):
    """What the loop needs of `InventoryWatch` (tests may hand it a fixed inventory)."""

    changed: asyncio.Event
    last_error: str | None

    def inventory(self, instance_types: list[dict[str, Any]] | None = None) -> Inventory | None: ...

    async def run(self) -> None: ...


@dataclass
class TurnReport:
    outcome: str  # written, unchanged, held, failed, follower
    result: ReconcileResult | None = None
    written: WriteReport | None = None
    error: str | None = None
    events: list[str] = field(default_factory=list)  # "model: Reason"


class PlacementLoop:
    def __init__(
        self,
        api: ApiClient,
        settings: ControllerSettings,
        clock: Clock,
        *,
        decisions: Decisions,
        inventory: InventorySource,
        elector: LeaderElector | None = None,
        instance_types: Callable[[], Sequence[Mapping[str, Any]]] = tuple,
        health: HealthFeed | None = None,
        metrics: ControllerMetrics | None = None,
        events: EventRecorder | None = None,
        writer: SsaWriter | None = None,
        debounce_s: float = 1.0,
        resync_s: float = 60.0,
        sleep: Sleep | None = None,  # None: the clock's (tests may step without it)
        backoff: Backoff | None = None,
    ) -> None:
        self.api = api
        self.settings = settings
        self.clock = clock
        self.decisions = decisions
        self.inventory = inventory
        self.elector = elector
        self.instance_types = instance_types
        self.health = health
        self.metrics = metrics or ControllerMetrics()
        self.events = events
        sleep = sleep or clock.sleep
        self.writer = writer or SsaWriter(api, backoff=Backoff(sleep=sleep))
        if elector is not None:
            self.writer.may_write = elector.is_leader
            chained = elector.on_change

            def on_change(leading: bool) -> None:
                self._on_leadership(leading)
                if chained is not None:
                    chained(leading)

            elector.on_change = on_change
        self.debounce_s = debounce_s
        self.resync_s = resync_s
        self.sleep = sleep
        self.backoff = backoff or Backoff(base_s=1.0, cap_s=60.0, sleep=sleep)
        self.plan: Plan | None = None  # the last plan written (None: not read back yet)
        self.last: TurnReport | None = None
        self._poked = asyncio.Event()
        self._retry_s: float | None = None  # a failed turn: the next one after this delay
        self._term = 0  # +1 per leadership change: a turn spanning one adopts nothing

    # -- the seams ---------------------------------------------------------------------
    def poke(self) -> None:
        """A new scaler decision: reconcile soon. Cheap, callable from the RPC loop."""
        self._poked.set()

    def leading(self) -> bool:
        return self.elector is None or self.elector.is_leader()

    def _on_leadership(self, leading: bool) -> None:
        self.metrics.leader.set(1 if leading else 0)
        self._term += 1
        self.plan = None  # whoever led meanwhile may have written: read it back
        self._poked.set()

    # -- one turn ----------------------------------------------------------------------
    async def turn(self) -> TurnReport:
        report = await self._turn()
        self.last = report
        self.metrics.turns.labels(report.outcome).inc()
        return report

    async def _turn(self) -> TurnReport:
        if not self.leading():
            self.plan = None
            return TurnReport("follower")
        now_s = self.clock.now_s()
        term = self._term
        if self.plan is None:
            try:
                self.plan = await self._read_back()
            except API_ERRORS as exc:
                return self._failed("reading the placement ConfigMaps back", exc)
        decisions = dict(self.decisions())
        scales = {m: d.scale for m, d in decisions.items()}
        demand, notes = demand_from_scale(scales, self.settings, self.plan)
        inventory = self.inventory.inventory([dict(t) for t in self.instance_types()])
        health = await self._health(now_s)
        started = time.perf_counter()  # a duration for the metric, never a decision
        try:
            result = await asyncio.to_thread(
                reconcile, self.plan, inventory, demand, health, self.settings, now_s, notes
            )
        except Exception as exc:  # a bug in the core must not stop the loop
            log.exception("reconcile failed")
            return self._failed("reconcile", exc)
        self.metrics.seconds.observe(time.perf_counter() - started)
        models = [m.name for m in demand.models]
        self.metrics.observe(result, models)
        if result.held:
            log.warning(
                "inventory unreadable; the last plan holds",
                extra={"error": self.inventory.last_error},
            )
            return TurnReport("held", result, error=self.inventory.last_error)
        written = None
        if not result.diff.empty:
            try:
                written = await write_diff(self.writer, result.diff, self.settings.namespace)
            except NotLeader:
                self.plan = None
                return TurnReport("follower", result)
            except API_ERRORS as exc:
                return self._failed("writing the plan", exc, result)
            self.metrics.writes.labels("apply").inc(len(written.applied))
            self.metrics.writes.labels("delete").inc(len(written.deleted))
            for obj, why in written.kept:
                log.info("left in place", extra={"object": obj, "reason": why})
        if term != self._term:  # the Lease changed hands meanwhile: read back next turn
            return TurnReport("follower", result, written)
        self.plan = result.plan
        self._retry_s = None
        self.backoff.reset()
        recorded = await self._record(result, decisions)
        outcome = "unchanged" if written is None else "written"
        if written is not None:
            log.info(
                "plan written",
                extra={
                    "applied": len(written.applied),
                    "deleted": len(written.deleted),
                    "models": list(result.diff.changed_models),
                },
            )
        return TurnReport(outcome, result, written, events=recorded)

    def _failed(
        self, what: str, exc: BaseException, result: ReconcileResult | None = None
    ) -> TurnReport:
        self._retry_s = self.backoff.next_delay_s()
        error = f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.warning("reconcile turn failed; retrying", extra={"error": error[:300]})
        return TurnReport("failed", result, error=error)

    async def _read_back(self) -> Plan:
        listed = await list_all(
            self.api,
            CONFIGMAPS.collection_path(self.settings.namespace),
            None,
            ",".join(f"{k}={v}" for k, v in MANAGED_BY.items()),
        )
        items = sorted(listed.get("items") or [], key=lambda o: o["metadata"]["name"])
        stored = plan_from_configmaps(items)
        for problem in stored.problems:
            log.warning("placement ConfigMap skipped", extra={"problem": problem})
        return stored.plan

    async def _health(self, now_s: float) -> HealthReport | None:
        if self.health is None:
            return None
        try:
            return await self.health(now_s)
        except Exception as exc:  # no DCGM data is no evidence: nothing closes
            log.warning("DCGM/vLLM health unreadable", extra={"error": str(exc)[:200]})
            return None

    async def _record(
        self, result: ReconcileResult, decisions: Mapping[str, ModelDecision]
    ) -> list[str]:
        if self.events is None:
            return []
        done = []
        for event in placement_events(result):
            decided = decisions.get(event.model)
            involved = (decided.workload if decided else None) or InvolvedObject(
                "v1", "ConfigMap", self.settings.namespace, placement_configmap_name(event.model)
            )
            await self.events.record(involved, event.type, event.reason, event.message)
            done.append(f"{event.model}: {event.reason}")
        return done

    # -- the loop ----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """The inventory's watches, the Lease, and turns, until `stop` is set; then the
        Lease is released (a clean shutdown hands over at once)."""
        tasks = [asyncio.create_task(self.inventory.run())]
        if self.elector is not None:
            tasks.append(asyncio.create_task(self.elector.run()))
        try:
            while not stop.is_set():
                if not await self._wake(stop):
                    break
                await self.sleep(self.debounce_s)  # let a burst of changes settle
                self.inventory.changed.clear()
                self._poked.clear()
                await self.turn()
        finally:
            if self.elector is not None:
                self.elector.stop()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(asyncio.shield(tasks[1]), timeout=5.0)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _wake(self, stop: asyncio.Event) -> bool:
        """Waits for a reason to turn; False when stopping."""
        timeout_s = self.resync_s if self._retry_s is None else self._retry_s
        waits = {
            asyncio.create_task(self.inventory.changed.wait()),
            asyncio.create_task(self._poked.wait()),
            asyncio.create_task(stop.wait()),
            asyncio.ensure_future(self.sleep(timeout_s)),
        }
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            for task in waits:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return not stop.is_set()
