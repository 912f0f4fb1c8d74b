"""The placement controller's Prometheus metrics, on the registry `/metrics` serves.

Per model (label `model`): replicas placed and unplaced, whether DCGM and vLLM show it as
waste. Fleet-wide: GPUs used and the lower bound (the plan's gap is their difference), GPUs
closed by DCGM, the last reconcile's duration and outcome, writes and write failures, and
whether this replica leads. Written only from the loop's own task: no locks needed beyond
prometheus_client's.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from scheduler.controller.reconcile import ReconcileResult


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.placed = Gauge(
            "prewarm_placement_replicas", "Replicas the plan places", ("model",), registry=r
        )
        self.unplaced = Gauge(
            "prewarm_placement_unplaced_replicas",
            "Replicas asked for that the plan could not place (the reason is in the Events)",
            ("model",),
            registry=r,
        )
        self.waste = Gauge(
            "prewarm_placement_waste",
            "1 while the model holds GPUs DCGM shows idle and vLLM reports no request",
            ("model",),
            registry=r,
        )
        self.gpus_used = Gauge("prewarm_placement_gpus_used", "GPUs the plan uses", registry=r)
        self.lower_bound = Gauge(
            "prewarm_placement_lower_bound_gpus",
            "GPUs any plan needs for what this one placed",
            registry=r,
        )
        self.gap = Gauge(
            "prewarm_placement_gap_gpus",
            "GPUs the plan uses over the lower bound (0: no plan does better)",
            registry=r,
        )
        self.closed = Gauge(
            "prewarm_placement_closed_gpus",
            "GPUs left out of new placements (DCGM: unhealthy or throttled)",
            registry=r,
        )
        self.seconds = Histogram(
            "prewarm_placement_reconcile_seconds",
            "Time of one reconcile (the pure core, in its thread)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=r,
        )
        self.turns = Counter(
            "prewarm_placement_reconciles",
            "Reconcile turns by outcome (written, unchanged, held, failed, follower)",
            ("outcome",),
            registry=r,
        )
        self.writes = Counter(
            "prewarm_placement_writes", "Objects applied or deleted", ("verb",), registry=r
        )
        self.leader = Gauge(
            "prewarm_placement_leader", "1 while this replica holds the Lease", registry=r
        )
        self.held = Gauge(
            "prewarm_placement_inventory_held",
            "1 while the inventory cannot be read and the last plan holds",
            registry=r,
        )
        self._models: set[str] = set()

    def observe(self, result: ReconcileResult, models: list[str]) -> None:
        """The plan's numbers; models that left the settings lose their series."""
        self.held.set(1 if result.held else 0)
        if result.held:
            return
        placed: dict[str, set[str]] = {m: set() for m in models}
        for a in result.plan.assignments:
            placed.setdefault(a.model, set()).add(a.replica)
        unplaced = {m: 0 for m in models}
        for u in result.plan.unplaced:
            unplaced[u.model] = unplaced.get(u.model, 0) + 1
        wasted = {w.model for w in result.waste}
        for model in models:
            self.placed.labels(model).set(len(placed.get(model, ())))
            self.unplaced.labels(model).set(unplaced.get(model, 0))
            self.waste.labels(model).set(1 if model in wasted else 0)
        for gone in self._models - set(models):
            for gauge in (self.placed, self.unplaced, self.waste):
                gauge.remove(gone)
        self._models = set(models)
        self.gpus_used.set(result.plan.gpus_used)
        self.lower_bound.set(result.plan.lower_bound_gpus)
        self.gap.set(result.gap_gpus)
        self.closed.set(len(result.closed_gpus))
