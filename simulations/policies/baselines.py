"""What people run today, behind the same Policy interface as Prewarm's engine."""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import maximum_filter1d

from autoscaler.capacity import replicas_for, token_load_replicas
from autoscaler.observation import Observation
from autoscaler.profile import ModelProfile
from simulations.fleet.offered_load import OfferedLoad
from simulations.policies.hpa import HpaController


class ReactiveQueuePolicy:
    """vLLM production-stack's recipe: KEDA on sum(vllm:num_requests_waiting), threshold 5.

    KEDA polls the metric every 30 s; the HPA syncs every 15 s on the latest value.
    """

    name = "reactive"
    interval_s = 15.0

    def __init__(
        self,
        profile: ModelProfile,
        initial_replicas: int,
        threshold: float = 5.0,
        polling_s: float = 30.0,
    ) -> None:
        self.threshold = threshold
        self.polling_s = polling_s
        self._hpa = HpaController(
            initial_replicas=initial_replicas,
            min_replicas=max(1, profile.replicas.min),
            max_replicas=profile.replicas.max,
        )
        self._metric = 0.0
        self._polled_at_s = -math.inf

    def decide(self, obs: Observation, now_s: float) -> int:
        if now_s - self._polled_at_s >= self.polling_s:
            self._metric = obs.requests_waiting
            self._polled_at_s = now_s
        return self._hpa.sync(self._metric, self.threshold, now_s)


class ReactiveTokensPolicy:
    """Current served token load over capacity at the target utilisation, no forecast.

    What a KEDA Prometheus trigger on token rate would do, through the same HPA arithmetic.
    """

    name = "reactive-tokens"

    def __init__(self, profile: ModelProfile, initial_replicas: int) -> None:
        self.profile = profile
        self.interval_s = profile.decision_interval_s
        self._hpa = HpaController(
            initial_replicas=initial_replicas,
            min_replicas=max(1, profile.replicas.min),
            max_replicas=profile.replicas.max,
        )

    def decide(self, obs: Observation, now_s: float) -> int:
        load = token_load_replicas(
            obs.prompt_tokens_per_s, obs.generation_tokens_per_s, self.profile.capacity
        )
        return self._hpa.sync(load, self.profile.target_utilisation, now_s)


class StaticPolicy:
    """A fixed fleet; by default sized for the trace's peak 5-minute demand."""

    name = "static"

    def __init__(self, replicas: int, interval_s: float = 60.0) -> None:
        self.replicas = replicas
        self.interval_s = interval_s

    @classmethod
    def for_peak(cls, offered: OfferedLoad, profile: ModelProfile) -> StaticPolicy:
        window = max(1, round(300 / offered.tick_s))
        smoothed = _rolling_mean(offered.slo_demand_replicas, window)
        peak = float(smoothed.max()) if smoothed.size else 0.0
        return cls(max(profile.replicas.min, replicas_for(peak, profile.target_utilisation), 1))

    def decide(self, obs: Observation, now_s: float) -> int:
        return self.replicas


class OraclePolicy:
    """Knows the future: asks now for what the next cold start + interval will need.

    Demand is smoothed over `smoothing_s` (per-second Poisson noise is not something any
    autoscaler can or should follow) and scale-down is immediate. With the same cold start
    as everyone else this is the lower bound on GPU-hours at the target utilisation.
    """

    name = "oracle"

    def __init__(
        self,
        offered: OfferedLoad,
        profile: ModelProfile,
        cold_start_s: float,
        smoothing_s: float = 60.0,
    ) -> None:
        self.interval_s = profile.decision_interval_s
        self.tick_s = offered.tick_s
        self.profile = profile
        window = max(1, round(smoothing_s / offered.tick_s))
        smoothed = _rolling_mean(offered.slo_demand_replicas, window)
        ahead = max(1, round((cold_start_s + self.interval_s) / offered.tick_s))
        # Largest smoothed demand in [t, t + ahead]: a forward-looking sliding maximum
        # (scipy centres the window; origin -(size // 2) shifts it to start at t).
        size = ahead + 1
        self._peak_ahead = maximum_filter1d(
            smoothed, size=size, origin=-(size // 2), mode="nearest"
        )

    def decide(self, obs: Observation, now_s: float) -> int:
        k = min(int(now_s / self.tick_s), self._peak_ahead.size - 1)
        need = replicas_for(float(self._peak_ahead[k]), self.profile.target_utilisation)
        return min(max(need, self.profile.replicas.min), self.profile.replicas.max)


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Centred rolling mean, one value per input: ticks [i - window // 2, i + (window - 1) // 2].

    Near the ends (and on traces shorter than the window) it averages only the ticks that
    exist; zero-padding would halve the demand there and under-size the fleet at the end.
    Worked number: [10, 10, 10] with window 60 -> [10, 10, 10].
    """
    n = values.size
    cum = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    i = np.arange(n)
    lo = np.maximum(i - window // 2, 0)
    hi = np.minimum(i + (window - 1) // 2 + 1, n)
    return (cum[hi] - cum[lo]) / (hi - lo)
