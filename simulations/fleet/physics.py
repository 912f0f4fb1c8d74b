"""How a simulated vLLM replica behaves: the knobs of the fleet model, with defaults.

The profile says what a replica sustains *within the SLO*; a real replica can push more
tokens through, but TTFT climbs steeply on the way (continuous batching queues prefills
behind each other). `knee_utilisation` places the SLO capacity on that curve: at 0.9 the
SLO capacity is 90 % of the replica's saturation throughput.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.profile import ModelProfile


@dataclass(frozen=True)
class FleetPhysics:
    prompt_capacity_tokens_per_s: float  # SLO capacity, from the profile
    generation_capacity_tokens_per_s: float
    kv_cache_tokens: float
    gpus_per_replica: int
    cold_start_s: float
    cold_start_jitter: float = 0.1  # each start takes cold_start_s x U(1 - j, 1 + j)
    knee_utilisation: float = 0.9  # SLO capacity as a share of saturation throughput
    prefill_tokens_per_s: float = 16000.0  # one request's prefill speed on an idle replica
    overhead_s: float = 0.05  # scheduling + first decode step
    decode_tokens_per_s_per_seq: float = 40.0  # per sequence, for concurrency and KV hold time
    max_num_seqs: int = 256  # vLLM's default batch limit on A100-class GPUs
    request_timeout_s: float = 120.0  # a client gives up after this long without a token
    max_queue_wait_factor: float = 0.99  # utilisation cap inside the M/M/1 queueing term
    rate_window_s: float = 60.0  # observed token rates are like rate(x[1m])
    utilisation_window_s: float = 60.0  # the queueing term follows mean load, not per-tick noise
    # With --inventory: a replica placed on a node the plan provisions waits this long for the
    # node (launch, boot, GPU driver and device plugin) before its cold start begins.
    node_provision_s: float = 120.0

    @classmethod
    def from_profile(cls, profile: ModelProfile, **overrides: float) -> FleetPhysics:
        cap = profile.capacity
        values = dict(
            prompt_capacity_tokens_per_s=cap.prompt_tokens_per_s,
            generation_capacity_tokens_per_s=cap.generation_tokens_per_s,
            kv_cache_tokens=cap.kv_cache_tokens,
            gpus_per_replica=cap.gpus_per_replica,
            cold_start_s=profile.cold_start_s,
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def saturation_prompt_tokens_per_s(self) -> float:
        return self.prompt_capacity_tokens_per_s / self.knee_utilisation

    @property
    def saturation_generation_tokens_per_s(self) -> float:
        return self.generation_capacity_tokens_per_s / self.knee_utilisation
