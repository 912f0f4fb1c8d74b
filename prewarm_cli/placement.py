"""Where `prewarm serve` meets the placement controller: the CLI layer, the one place that
imports both autoscaler/ (the decisions) and scheduler/ (placement).

Why `serve` runs the loop (when its config has a `placement:` section) rather than a
`prewarm controller` of its own: the demand IS the scaler's decisions. In the same process
they reach the loop through one callback, at the instant they are made; a separate
controller would have to poll `serve`'s HTTP face for them, adding a staleness, a failure
mode and an auth path for no gain. Serve's replicas already agree on every decision
(peers/), and the Lease makes exactly one of them write, so running the loop in each
replica costs one set of watches per replica and gives a warm standby.

The seam is `DecisionBoard`: a registry listener (`ScalerRegistry(listeners=...)`) that keeps
each model's latest decision as `ModelDecision(ModelScale(replicas now, forecast replicas at
the horizon), the ScaledObject)` and pokes the loop when what placement sees changed. A
ScaledObject the registry drops (KEDA stopped asking) leaves the board: its model then holds
the last plan's replicas (scale_demand.py), never shrinks for want of data.

The board also keeps, per ScaledObject, vLLM's running + waiting requests from the scaler's
latest observation (`loads()`): with DCGM's engine activity (dcgm_feed.py) they make the waste
flag. They change every poll, so they never poke the loop; the next turn reads them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from autoscaler.clock import Clock
from autoscaler.decision import Decision
from autoscaler.metrics.prometheus_source import PrometheusSource
from autoscaler.metrics.promql import DEFAULT_NAMES
from autoscaler.metrics.source import ModelQuery
from autoscaler.scaler.tracked import Tracked
from scheduler.controller.scale_demand import ModelScale
from scheduler.kubernetes.controller_config import PlacementConfig
from scheduler.kubernetes.controller_loop import ModelDecision, PlacementLoop
from scheduler.kubernetes.dcgm_feed import ModelLoad
from scheduler.kubernetes.events import InvolvedObject

log = logging.getLogger("prewarm.placement")
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class DecisionBoard:
    """Per model, what the scaler decided last. Replicas of a model scaled by several
    ScaledObjects (one per namespace, say) add up: they all take the model's placement."""

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self.on_change = on_change
        self._by_target: dict[str, tuple[str, ModelScale, InvolvedObject]] = {}
        self._loads: dict[str, tuple[str, ModelLoad]] = {}

    def __call__(self, tracked: Tracked, decision: Decision) -> None:
        """The registry's listener: runs on the RPC loop for every decision; cheap."""
        target = tracked.target
        namespace, _, name = target.scaled_object.rpartition("/")
        workload = InvolvedObject("keda.sh/v1alpha1", "ScaledObject", namespace, name)
        entry = (target.model, ModelScale.from_decision(decision), workload)
        latest = tracked.engine.window.latest
        source = tracked.source
        self._loads[target.scaled_object] = (
            target.model,
            ModelLoad(
                ModelQuery(target.model, target.namespace or None),
                None if latest is None else latest.requests_running + latest.requests_waiting,
                None if latest is None else latest.t_s,
                source.names if isinstance(source, PrometheusSource) else DEFAULT_NAMES,
            ),
        )
        if self._by_target.get(target.scaled_object) != entry:
            self._by_target[target.scaled_object] = entry
            self.on_change()

    def forget(self, tracked: Tracked) -> None:
        """The registry's on_drop."""
        self._loads.pop(tracked.target.scaled_object, None)
        if self._by_target.pop(tracked.target.scaled_object, None) is not None:
            self.on_change()

    def loads(self) -> Mapping[str, ModelLoad]:
        """Per model, vLLM's requests summed over its ScaledObjects, as old as the oldest
        observation (None if any has none: part of the fleet unread is no evidence of no
        load); pods in any of their namespaces (the query's namespace only if all agree)."""
        by_model: dict[str, list[ModelLoad]] = {}
        for model, load in self._loads.values():
            by_model.setdefault(model, []).append(load)
        out = {}
        for model, loads in by_model.items():
            namespaces = {load.query.namespace for load in loads}
            namespace = namespaces.pop() if len(namespaces) == 1 else None
            counted = [load for load in loads if load.requests is not None]
            whole = len(counted) == len(loads)
            out[model] = ModelLoad(
                ModelQuery(model, namespace),
                sum(load.requests or 0.0 for load in loads) if whole else None,
                min(load.requests_at_s or 0.0 for load in loads) if whole else None,
                loads[0].names,
            )
        return out

    def decisions(self) -> Mapping[str, ModelDecision]:
        now: dict[str, int] = {}
        ahead: dict[str, int] = {}
        workload: dict[str, InvolvedObject] = {}
        for model, scale, involved in self._by_target.values():
            now[model] = now.get(model, 0) + scale.replicas_now
            ahead[model] = ahead.get(model, 0) + scale.replicas_at_horizon
            workload.setdefault(model, involved)
        return {m: ModelDecision(ModelScale(now[m], ahead[m]), workload[m]) for m in now}


def pod_namespace() -> str:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return os.environ.get("POD_NAMESPACE", "default")


async def run_placement(
    config: PlacementConfig,
    board: DecisionBoard,
    clock: Clock,
    registry: Any,
    stop: asyncio.Event,
    prometheus_url: str | None = None,
    kubeconfig: Path | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,  # None: the clock's
) -> None:
    """The loop against the cluster until `stop`. `registry`: the Prometheus registry
    /metrics serves; `prometheus_url`: where dcgm-exporter's series are (the serve config's
    Prometheus). A loop that cannot start (no cluster credentials) says so and leaves the
    scaler serving."""
    from scheduler.kubernetes.api_client import api_client
    from scheduler.kubernetes.controller_metrics import ControllerMetrics
    from scheduler.kubernetes.dcgm_feed import DcgmFeed
    from scheduler.kubernetes.events import EventRecorder
    from scheduler.kubernetes.inventory_watch import InventoryWatch
    from scheduler.kubernetes.leader_election import LeaderElector, default_identity

    identity = default_identity()
    try:
        async with api_client(kubeconfig) as api:
            lease = config.lease
            elector = LeaderElector(
                api,
                lease.namespace or pod_namespace(),
                lease.name,
                identity,
                clock,
                lease_duration_s=lease.duration_s,
                renew_deadline_s=lease.renew_deadline_s,
                retry_period_s=lease.retry_period_s,
                sleep=sleep,
            )
            health = None
            if config.dcgm and prometheus_url:
                health = DcgmFeed(
                    prometheus_url,
                    config.health,
                    window_s=config.dcgm_window_s,
                    models=board.loads,
                )
            loop = PlacementLoop(
                api,
                config.controller_settings(),
                clock,
                decisions=board.decisions,
                inventory=InventoryWatch(api),
                elector=elector,
                instance_types=config.instance_type_dicts,
                health=health,
                metrics=ControllerMetrics(registry),
                events=EventRecorder(api, clock, instance=identity) if config.events else None,
                debounce_s=config.debounce_s,
                resync_s=config.resync_s,
                sleep=sleep,
            )
            board.on_change = loop.poke
            log.info(
                "placement controller started",
                extra={"identity": identity, "models": sorted(config.models)},
            )
            await loop.run(stop)
    except Exception:  # placement must never take the scaler down with it
        log.exception("placement controller stopped")
