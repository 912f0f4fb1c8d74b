"""Prewarm itself in the simulator: the production engine, fed simulated observations."""

from __future__ import annotations

from collections.abc import Iterable

from autoscaler.engine import ModelEngine
from autoscaler.observation import Observation
from autoscaler.profile import ModelProfile


class PredictivePolicy:
    name = "predictive"

    def __init__(
        self,
        profile: ModelProfile,
        initial_replicas: int,
        history: Iterable[Observation] = (),
    ) -> None:
        self.engine = ModelEngine(profile, initial_replicas=initial_replicas)
        self.interval_s = profile.decision_interval_s
        # Back-filled before the first decision, as production's registry does on start.
        for obs in history:
            self.engine.observe(obs)

    def decide(self, obs: Observation, now_s: float) -> int:
        self.engine.observe(obs)
        return self.engine.decide(now_s).replicas
