"""The one interface every simulated policy implements, predictive and baselines alike."""

from __future__ import annotations

from typing import Protocol

from autoscaler.observation import Observation


class Policy(Protocol):
    name: str
    interval_s: float  # how often the fleet asks it

    def decide(self, obs: Observation, now_s: float) -> int:
        """Desired replicas, given what Prometheus would show at `now_s`."""
        ...
