"""Prewarm itself in the simulator: the production engine, fed simulated observations."""

from __future__ import annotations

from autoscaler.engine import ModelEngine
from autoscaler.observation import Observation
from autoscaler.profile import ModelProfile


class PredictivePolicy:
    name = "predictive"

    def __init__(self, profile: ModelProfile, initial_replicas: int) -> None:
        self.engine = ModelEngine(profile, initial_replicas=initial_replicas)
        self.interval_s = profile.decision_interval_s

    def decide(self, obs: Observation, now_s: float) -> int:
        self.engine.observe(obs)
        return self.engine.decide(now_s).replicas
