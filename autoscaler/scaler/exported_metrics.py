"""Prewarm's own metrics, per ScaledObject: what it decided, from what, how fresh."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Gauge

from autoscaler.decision import Decision
from autoscaler.scaler.tracked import Tracked

LABELS = ("scaled_object", "model")


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

    def __call__(self, tracked: Tracked, decision: Decision) -> None:
        labels = (tracked.target.scaled_object, tracked.target.model)
        self.desired.labels(*labels).set(decision.replicas)
        self.forecast.labels(*labels).set(decision.forecast_replicas)
        self.reactive.labels(*labels).set(decision.reactive_replicas)
        age = decision.data_age_s
        self.data_age.labels(*labels).set(age if math.isfinite(age) else -1)
        self.valid.labels(*labels).set(1 if decision.valid else 0)
        current = reason_kind(decision)
        for kind in ("forecast", "reactive", "holding", "other"):
            self.reason.labels(*labels, kind).set(1 if kind == current else 0)
        forecasts = tracked.engine.last_forecasts
        if forecasts is not None:
            until = decision.t_s + tracked.engine.profile.horizon_s
            self.prompt_forecast.labels(*labels).set(forecasts[0].peak_upper(until))
