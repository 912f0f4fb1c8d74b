"""Prewarm's own metrics, per ScaledObject: what it decided, from what, how fresh."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from autoscaler.decision import Decision
from autoscaler.scaler.tracked import Tracked

LABELS = ("scaled_object", "model")


REASON_KINDS = ("forecast", "reactive", "holding", "other")


def reason_kind(decision: Decision) -> str:
    """A low-cardinality label for the reason (the full text goes to the logs)."""
    text = decision.reason
    for kind in ("holding", "reactive", "forecast"):
        if text.startswith(kind):
            return kind
    return "other"


class DecisionMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.desired = Gauge("prewarm_desired_replicas", "Replicas decided", LABELS, registry=r)
        self.forecast = Gauge(
            "prewarm_forecast_replicas",
            "Replicas the forecast alone asks for",
            LABELS,
            registry=r,
        )
        self.reactive = Gauge(
            "prewarm_reactive_replicas",
            "Replicas the reactive floor asks for",
            LABELS,
            registry=r,
        )
        self.data_age = Gauge(
            "prewarm_data_age_seconds", "Age of the newest observation", LABELS, registry=r
        )
        self.valid = Gauge(
            "prewarm_decision_valid",
            "1 while data is fresh enough to answer",
            LABELS,
            registry=r,
        )
        self.reason = Gauge(
            "prewarm_decision_reason",
            "1 for the kind of reason behind the decision",
            (*LABELS, "kind"),
            registry=r,
        )
        self.prompt_forecast = Gauge(
            "prewarm_forecast_prompt_tokens_per_second",
            "Upper-quantile prompt-token forecast peak over the horizon",
            LABELS,
            registry=r,
        )
        self.refresh_failures = Counter(
            "prewarm_refresh_failures",
            "Refreshes whose decision raised (the answer then holds, and ages toward invalid)",
            LABELS,
            registry=r,
        )
        # No labels: the refused names are unbounded, which is what is being refused.
        self.refused = Counter(
            "prewarm_scaled_objects_refused",
            "New ScaledObjects refused past the serve config's max_scaled_objects",
            registry=r,
        )

        # Each ScaledObject's labelled gauges, looked up once: `labels()` takes a lock and
        # validates the labels, and this runs on the RPC loop for every decision.
        self._children: dict[tuple[str, str], _Children] = {}

    def __call__(self, tracked: Tracked, decision: Decision) -> None:
        labels = (tracked.target.scaled_object, tracked.target.model)
        gauges = self._children.get(labels)
        if gauges is None:
            gauges = self._children[labels] = self._children_for(labels)
        # Counted from the refreshes that failed, not from publishes: a decision heard from
        # a peer is published again without any refresh.
        if tracked.refresh_failures > gauges.failures_seen:
            gauges.refresh_failures.inc(tracked.refresh_failures - gauges.failures_seen)
            gauges.failures_seen = tracked.refresh_failures
        gauges.desired.set(decision.replicas)
        gauges.forecast.set(decision.forecast_replicas)
        gauges.reactive.set(decision.reactive_replicas)
        age = decision.data_age_s
        gauges.data_age.set(age if math.isfinite(age) else -1)
        gauges.valid.set(1 if decision.valid else 0)
        current = reason_kind(decision)
        for kind, gauge in gauges.reason.items():
            gauge.set(1 if kind == current else 0)
        forecasts = tracked.engine.last_forecasts
        if forecasts is not None:
            until = decision.t_s + tracked.engine.profile.horizon_s
            gauges.prompt_forecast.set(forecasts[0].horizon_peak(until))

    def count_refused(self, count: int) -> None:
        self.refused.inc(count)

    def forget(self, tracked: Tracked) -> None:
        """A dropped ScaledObject's series stop being exported."""
        labels = (tracked.target.scaled_object, tracked.target.model)
        if self._children.pop(labels, None) is None:
            return
        for family in (self.desired, self.forecast, self.reactive, self.data_age, self.valid,
                       self.prompt_forecast, self.refresh_failures):  # fmt: skip
            with contextlib.suppress(KeyError):
                family.remove(*labels)
        for kind in REASON_KINDS:
            with contextlib.suppress(KeyError):
                self.reason.remove(*labels, kind)

    def _children_for(self, labels: tuple[str, str]) -> _Children:
        return _Children(
            desired=self.desired.labels(*labels),
            forecast=self.forecast.labels(*labels),
            reactive=self.reactive.labels(*labels),
            data_age=self.data_age.labels(*labels),
            valid=self.valid.labels(*labels),
            reason={kind: self.reason.labels(*labels, kind) for kind in REASON_KINDS},
            prompt_forecast=self.prompt_forecast.labels(*labels),
            refresh_failures=self.refresh_failures.labels(*labels),
        )


@dataclass
class _Children:
    desired: Gauge
    forecast: Gauge
    reactive: Gauge
    data_age: Gauge
    valid: Gauge
    reason: dict[str, Gauge]
    prompt_forecast: Gauge
    refresh_failures: Counter
    failures_seen: int = 0  # the ScaledObject's failed refreshes already counted
