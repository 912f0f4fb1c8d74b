"""Small hand-made traces and fixed policies for fleet tests."""

from __future__ import annotations

import numpy as np

from autoscaler.observation import Observation
from autoscaler.profile import ModelProfile, parse_profile
from simulations.traces.request_trace import RequestTrace


def profile(**overrides: object) -> ModelProfile:
    data: dict[str, object] = {
        "model": "test-model",
        "capacity": {
            "prompt_tokens_per_s": 9000.0,
            "generation_tokens_per_s": 900.0,
            "kv_cache_tokens": 1_000_000.0,
        },
        "cold_start_s": 100.0,
        "replicas": {"min": 0, "max": 50},
    }
    data.update(overrides)
    return parse_profile(data)


def constant_trace(
    rps: float, duration_s: float, prompt: int = 900, output: int = 9
) -> RequestTrace:
    """Evenly spaced identical requests: no randomness, so load is exactly known."""
    n = int(rps * duration_s)
    arrival = np.arange(n) / rps
    return RequestTrace(
        "constant",
        arrival,
        np.full(n, prompt, dtype=np.int32),
        np.full(n, output, dtype=np.int32),
    )


class FixedPolicy:
    """Asks for a scripted replica count from a given time on."""

    def __init__(self, schedule: list[tuple[float, int]], interval_s: float = 5.0) -> None:
        self.name = "fixed"
        self.interval_s = interval_s
        self.schedule = sorted(schedule)
        self.seen: list[Observation] = []

    def decide(self, obs: Observation, now_s: float) -> int:
        self.seen.append(obs)
        replicas = 0
        for t_s, value in self.schedule:
            if now_s >= t_s:
                replicas = value
        return replicas
