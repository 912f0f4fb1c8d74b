"""Fakes for the autoscaler's seams and builders for the values that cross them.

Numbers default to the ones in the docstrings' worked examples (8,000 prompt and 2,500
generation tok/s per replica, 400,000 KV tokens, 80 % target), so tests can quote them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoscaler.forecast.forecast import Forecast, PointForecast
from autoscaler.observation import Observation
from autoscaler.profile import ModelProfile, parse_profile

Means = float | Sequence[float] | Callable[[float, int], Sequence[float]]
FailFn = Callable[[], Exception | None]


class ScriptedForecaster:
    """A Forecaster that answers with the means it is given.

    `means` is a constant, a sequence (the last value is held past its end) or a function of
    (end_s, horizon_steps). `fail` is asked on every call; an exception it returns is raised.
    Every call is recorded as (end_s, len(history), horizon_steps).
    """

    def __init__(self, means: Means, *, note: str = "", fail: FailFn | None = None) -> None:
        self.means = means
        self.note = note
        self.fail = fail
        self.calls: list[tuple[float, int, int]] = []

    def predict(self, history: np.ndarray, end_s: float, horizon_steps: int) -> PointForecast:
        self.calls.append((end_s, int(history.size), horizon_steps))
        if self.fail is not None and (exc := self.fail()) is not None:
            raise exc
        if callable(self.means):
            values = np.asarray(self.means(end_s, horizon_steps), dtype=float)
        else:
            values = np.atleast_1d(np.asarray(self.means, dtype=float))
        if values.size < horizon_steps:
            values = np.concatenate([values, np.full(horizon_steps - values.size, values[-1])])
        return PointForecast(values[:horizon_steps], "scripted", self.note)


def fails_from_call(n: int, exc: Exception) -> FailFn:
    """A `fail` callable: calls 0..n-1 succeed, every later call raises `exc`."""
    calls = 0

    def fail() -> Exception | None:
        nonlocal calls
        calls += 1
        return exc if calls > n else None

    return fail


def forecast(
    mean: float | Sequence[float],
    start_s: float,
    *,
    step_s: float = 60.0,
    steps: int = 8,
    upper: float | Sequence[float] | None = None,
) -> Forecast:
    """A Forecast as the planner receives it; a scalar is held flat, upper defaults to mean."""
    mean_arr = np.broadcast_to(np.asarray(mean, dtype=float), (steps,)).copy()
    upper_src = mean_arr if upper is None else np.asarray(upper, dtype=float)
    upper_arr = np.broadcast_to(upper_src, (steps,)).copy()
    return Forecast(start_s, step_s, mean_arr, upper_arr, 0.95, "scripted")


def observation(
    t_s: float,
    prompt: float = 0.0,
    generation: float = 0.0,
    *,
    waiting: float = 0.0,
    running: float = 0.0,
    kv: float = 0.0,
    ready: int = 1,
    requests_per_s: float = 0.0,
) -> Observation:
    return Observation(
        t_s=t_s,
        prompt_tokens_per_s=prompt,
        generation_tokens_per_s=generation,
        requests_running=running,
        requests_waiting=waiting,
        kv_cache_usage=kv,
        ready_replicas=ready,
        requests_per_s=requests_per_s,
    )


PROMPT_CAPACITY = 8000.0
GENERATION_CAPACITY = 2500.0
KV_CAPACITY = 400_000.0


def profile_data(**overrides: Any) -> dict[str, Any]:
    """A valid profile mapping; dict overrides are merged one level deep."""
    data: dict[str, Any] = {
        "model": "test-model",
        "capacity": {
            "prompt_tokens_per_s": PROMPT_CAPACITY,
            "generation_tokens_per_s": GENERATION_CAPACITY,
            "kv_cache_tokens": KV_CAPACITY,
        },
        "cold_start_s": 300.0,
        "decision_interval_s": 15.0,
        "target_utilisation": 0.8,
        "kv_target_utilisation": 0.85,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def make_profile(**overrides: Any) -> ModelProfile:
    return parse_profile(profile_data(**overrides))


def prompt_for_replicas(replicas: int, target_utilisation: float = 0.8) -> float:
    """Prompt tok/s that needs exactly `replicas` at the target (and no generation)."""
    return replicas * target_utilisation * PROMPT_CAPACITY


class FakeMetricSource:
    """A MetricSource answering from dicts set by the test.

    `latest_by_model[model]` is returned (with t_s moved to the asked instant when
    `fresh` is True); `fail` is asked on every call and an exception it returns is raised
    (use MetricSourceError to mimic an outage). Calls are counted.
    """

    def __init__(self, *, fail: FailFn | None = None, fresh: bool = True) -> None:
        self.latest_by_model: dict[str, Observation] = {}
        self.history_by_model: dict[str, list[Observation]] = {}
        self.fail = fail
        self.fresh = fresh
        self.latest_calls = 0
        self.history_calls = 0

    async def latest(self, query: Any, now_s: float) -> Observation | None:
        self.latest_calls += 1
        if self.fail is not None and (exc := self.fail()) is not None:
            raise exc
        obs = self.latest_by_model.get(query.model)
        if obs is None or not self.fresh:
            return obs
        from dataclasses import replace

        return replace(obs, t_s=now_s)

    async def history(
        self, query: Any, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        self.history_calls += 1
        if self.fail is not None and (exc := self.fail()) is not None:
            raise exc
        return [o for o in self.history_by_model.get(query.model, []) if start_s <= o.t_s <= end_s]
