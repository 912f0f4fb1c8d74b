"""Hand-made traces, a small profile and fleet builders for the emulator tests.

With the profile below a replica saturates at 10,000 prompt and 1,000 generation tok/s
(SLO capacity 9,000 and 900 at the 0.9 knee), so a request of 2,000 + 100 tokens is
0.2 + 0.1 = 0.3 replica-seconds of work.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from autoscaler.clock import ManualClock
from autoscaler.profile import ModelProfile
from simulations.emulator import EmulatedFleet
from simulations.traces.request_trace import RequestTrace
from tests.simulations.fleet_helpers import profile as fleet_profile

START_S = 1_000.0

# Five requests: second 0 holds two, second 1 one, second 2 none, second 3 two.
HAND_ARRIVAL_S = [0.2, 0.7, 1.5, 3.0, 3.9]
HAND_PROMPT = [100, 200, 300, 400, 500]
HAND_OUTPUT = [10, 20, 30, 40, 50]


def profile(**overrides: object) -> ModelProfile:
    """The fleet tests' profile, but an emulated fleet always keeps one replica."""
    return fleet_profile(**{"replicas": {"min": 1, "max": 50}, **overrides})


def hand_trace() -> RequestTrace:
    return RequestTrace(
        "hand",
        np.array(HAND_ARRIVAL_S),
        np.array(HAND_PROMPT, dtype=np.int32),
        np.array(HAND_OUTPUT, dtype=np.int32),
    )


def constant_trace(
    rps: int = 10, duration_s: int = 600, prompt: int = 2000, output: int = 100
) -> RequestTrace:
    """Evenly spaced identical requests: exactly `rps` in every trace second."""
    n = rps * duration_s
    return RequestTrace(
        "constant",
        np.arange(n) / rps,
        np.full(n, prompt, dtype=np.int32),
        np.full(n, output, dtype=np.int32),
    )


def stepped_trace(steps: list[tuple[int, int]], seed: int = 0) -> RequestTrace:
    """`rps` for `duration_s`, step after step, with random token lengths."""
    rng = np.random.default_rng(seed)
    arrival, start = [], 0
    for rps, duration_s in steps:
        arrival.append(start + np.arange(rps * duration_s) / rps)
        start += duration_s
    times = np.concatenate(arrival)
    return RequestTrace(
        "stepped",
        times,
        rng.integers(500, 4000, size=times.size).astype(np.int32),
        rng.integers(10, 300, size=times.size).astype(np.int32),
    )


def fleet(trace: RequestTrace | None = None, **kwargs: Any) -> tuple[EmulatedFleet, ManualClock]:
    clock = ManualClock(START_S)
    kwargs.setdefault("replicas", 1)
    built = EmulatedFleet(trace or hand_trace(), profile(), clock=clock, **kwargs)
    return built, clock


def parse(text: str) -> dict[str, object]:
    """Metric families by name (prometheus_client strips `_total` from counter families)."""
    return {family.name: family for family in text_string_to_metric_families(text)}
