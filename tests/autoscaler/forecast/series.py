"""Synthetic demand for forecaster tests: five-minute buckets, a daily sine, seeded noise."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoscaler.forecast.registry import FORECASTERS

BUCKET_S = 300.0
DAY = 288  # five-minute buckets in a day
HORIZON = 6  # half an hour ahead: a cold start and then some


def truth(buckets: np.ndarray) -> np.ndarray:
    """1,000 +- 400 tok/s over the day, at the bucket centres."""
    centre_s = (np.asarray(buckets, dtype=float) + 0.5) * BUCKET_S
    return 1000.0 + 400.0 * np.sin(2 * np.pi * centre_s / 86400.0)


def demand(
    buckets: int, seed: int = 20240601, drift: float = 0.01, noise: float = 0.01
) -> np.ndarray:
    """The truth x (1 + AR(1) drift, phi 0.9) x (1 + white noise): real traffic wanders for
    a while away from its daily curve, which is what lets a model tell a shift from noise."""
    rng = np.random.default_rng(seed)
    wander = np.zeros(buckets)
    shocks = rng.normal(0.0, drift, buckets)
    for i in range(1, buckets):
        wander[i] = 0.9 * wander[i - 1] + shocks[i]
    return truth(np.arange(buckets)) * (1 + wander) * (1 + rng.normal(0.0, noise, buckets))


def settings(kind: str, **overrides: Any) -> Any:
    settings_cls, _ = FORECASTERS[kind]
    return settings_cls(bucket_s=BUCKET_S, **overrides)
