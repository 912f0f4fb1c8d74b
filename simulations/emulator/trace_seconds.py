"""A trace reduced once to per-second arrays: everything a scrape needs, nothing per request.

Built from `OfferedLoad` with a 1 s tick, so the emulator and the simulator agree on what a
trace offers. Besides the offered work and tokens it holds the two trailing sums the fluid
queue needs (the abandonment cap and the utilisation behind the queueing delay) and, for the
auto-sized fleet, the replica count each second would have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from autoscaler.capacity import replicas_for
from autoscaler.profile import ModelProfile
from simulations.fleet.offered_load import OfferedLoad
from simulations.fleet.physics import FleetPhysics
from simulations.traces.request_trace import RequestTrace

AUTO_STEP_S = 60  # the auto-sized fleet re-sizes once a minute, like a well-tuned autoscaler


@dataclass(frozen=True)
class TraceSeconds:
    """Per-second arrays of one pass over the trace (index = trace second)."""

    n_s: int  # seconds in one pass; the loop period
    work: np.ndarray  # replica-seconds at saturation offered in each second
    prompt_tokens: np.ndarray
    generation_tokens: np.ndarray
    requests: np.ndarray
    kv_tokens_in_flight: np.ndarray
    kv_capacity_share: np.ndarray  # share of a replica's throughput its KV budget allows
    recent_work: np.ndarray  # work offered in the last request_timeout_s: the backlog's cap
    mean_work_60s: np.ndarray  # trailing-minute mean work: the utilisation queueing follows
    auto_replicas: np.ndarray  # int64: just enough replicas, per second
    idle_replicas: int  # the auto-sized fleet after a non-looping trace ends
    mean_service_s: float  # mean prefill time on an idle replica (the M/M/1 service time)
    decode_s: float  # mean time a request spends decoding (Little's law for `running`)

    @classmethod
    def build(
        cls, trace: RequestTrace, physics: FleetPhysics, profile: ModelProfile, *, loop: bool
    ) -> TraceSeconds:
        offered = OfferedLoad.from_trace(trace, physics, tick_s=1.0)
        timeout_s = max(1, round(physics.request_timeout_s))
        return cls(
            n_s=offered.n_ticks,
            work=offered.work,
            prompt_tokens=offered.prompt_tokens,
            generation_tokens=offered.generation_tokens,
            requests=offered.requests,
            kv_tokens_in_flight=offered.kv_tokens_in_flight,
            kv_capacity_share=offered.kv_capacity_share,
            recent_work=trailing_sum(offered.work, timeout_s, cyclic=loop),
            mean_work_60s=trailing_sum(offered.work, 60, cyclic=loop) / 60.0,
            auto_replicas=auto_replicas(offered, physics, profile),
            idle_replicas=max(1, profile.replicas.min),
            mean_service_s=offered.mean_prompt_tokens / physics.prefill_tokens_per_s,
            decode_s=offered.mean_output_tokens / physics.decode_tokens_per_s_per_seq,
        )


def trailing_sum(values: np.ndarray, window: int, *, cyclic: bool) -> np.ndarray:
    """Sum of the last `window` entries including this one. Cyclic: the start of the array
    follows its end, as it does when the trace loops; otherwise the start sees zeros."""
    n = values.size
    if cyclic and n:
        reps = math.ceil(window / n)
        head = np.tile(values, reps)[-(window - 1) :] if window > 1 else values[:0]
    else:
        head = np.zeros(window - 1)
    padded = np.concatenate([head, values])
    cum = np.concatenate([[0.0], np.cumsum(padded)])
    return cum[window:] - cum[:-window]


def auto_replicas(offered: OfferedLoad, physics: FleetPhysics, profile: ModelProfile) -> np.ndarray:
    """Replicas a right-sized fleet has each second.

    Each minute gets ceil(demand / target utilisation), demand being the larger of the
    minute's mean token work (in replicas at SLO capacity) and its KV tokens (in replicas'
    KV budgets at the KV target); the count is then held for the profile's scale-down delay
    so it does not flap on noise. Bounded by the profile's replicas.min (at least 1: an idle
    fleet still exports metrics) and replicas.max.
    Worked number: 3.2 replicas of work at 80 % target is ceil(4.0) = 4 replicas.
    """
    n = offered.n_ticks
    minutes = math.ceil(n / AUTO_STEP_S)
    pad = minutes * AUTO_STEP_S - n

    def per_minute_mean(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values, np.zeros(pad)]).reshape(minutes, AUTO_STEP_S).mean(axis=1)

    work = per_minute_mean(offered.slo_demand_replicas)
    kv = per_minute_mean(offered.kv_tokens_in_flight) / physics.kv_cache_tokens
    need = np.array(
        [
            max(
                replicas_for(float(w), profile.target_utilisation),
                replicas_for(float(k), profile.kv_target_utilisation),
            )
            for w, k in zip(work, kv, strict=True)
        ],
        dtype=np.int64,
    )
    hold = max(1, math.ceil(profile.scaling.scale_down_delay_s / AUTO_STEP_S))
    held = need.copy()
    for lag in range(1, hold):
        held[lag:] = np.maximum(held[lag:], need[:-lag])
    held = np.clip(held, max(1, profile.replicas.min), max(1, profile.replicas.max))
    return np.repeat(held, AUTO_STEP_S)[:n]
