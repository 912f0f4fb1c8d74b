"""Token demand -> replicas. Two resources can bind: token work and KV-cache concurrency.

Token work adds across prefill and decode because both share one GPU's time:
load = prompt_tps / prompt_capacity + generation_tps / generation_capacity, in replicas.
Worked number: 40,000 prompt tok/s over 8,000 per replica is 5.0, plus 1,250 gen tok/s over
2,500 is 0.5: 5.5 replicas of work; at 80 % target utilisation that is ceil(6.875) = 7.
"""

from __future__ import annotations

import math

from autoscaler.profile import ReplicaCapacity

_EPS = 1e-9  # keeps ceil(4.000000001) from adding a replica for float noise


def token_load_replicas(
    prompt_tokens_per_s: float, generation_tokens_per_s: float, capacity: ReplicaCapacity
) -> float:
    """Replicas' worth of token work at 100 % of the SLO capacity."""
    return (
        prompt_tokens_per_s / capacity.prompt_tokens_per_s
        + generation_tokens_per_s / capacity.generation_tokens_per_s
    )


def replicas_for(load_replicas: float, target_utilisation: float) -> int:
    """Smallest replica count that keeps utilisation at or below the target."""
    if load_replicas <= 0:
        return 0
    return math.ceil(load_replicas / target_utilisation - _EPS)


def kv_tokens_in_use(
    kv_cache_usage: float, ready_replicas: int, capacity: ReplicaCapacity
) -> float:
    return kv_cache_usage * ready_replicas * capacity.kv_cache_tokens


def kv_replicas_for_generation(
    generation_tokens_per_s: float,
    kv_tokens_per_generation_rate: float,
    capacity: ReplicaCapacity,
) -> float:
    """KV replicas needed at a future generation rate.

    KV tokens held scale with the number of sequences decoding, which scales with the
    generation rate for a stable length mix (Little's law). The ratio is measured now:
    300,000 KV tokens in use at 1,000 gen tok/s is 300 s; a forecast of 2,000 gen tok/s then
    needs 600,000 KV tokens, 1.5 replicas of a 400,000-token budget.
    """
    return generation_tokens_per_s * kv_tokens_per_generation_rate / capacity.kv_cache_tokens
