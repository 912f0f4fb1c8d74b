"""What a model's fleet looks like at one instant, in vLLM metric semantics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Observation:
    """One sample of a model's demand and pressure, summed over pods and engines.

    Token rates are what vLLM's counters show through `rate()`: tokens *served*, so they
    flatten when the fleet saturates. The queue (`requests_waiting`) is what reveals demand
    beyond capacity, which is why the planner reads both.
    """

    t_s: float
    prompt_tokens_per_s: float  # rate(vllm:prompt_tokens_total)
    generation_tokens_per_s: float  # rate(vllm:generation_tokens_total)
    requests_running: float  # sum(vllm:num_requests_running)
    requests_waiting: float  # sum(vllm:num_requests_waiting)
    kv_cache_usage: float  # mean(vllm:kv_cache_usage_perc) over ready replicas, 0..1
    ready_replicas: int  # replicas exporting metrics (serving)
    requests_per_s: float = 0.0  # rate(vllm:request_success_total): finished requests
    ttft_p95_s: float | None = None  # histogram_quantile(0.95, vllm:time_to_first_token_seconds)

    def __post_init__(self) -> None:
        for name in (
            "prompt_tokens_per_s",
            "generation_tokens_per_s",
            "requests_running",
            "requests_waiting",
            "kv_cache_usage",
            "requests_per_s",
        ):
            value = getattr(self, name)
            if not value >= 0:  # also rejects NaN
                raise ValueError(f"Observation.{name} must be a number >= 0, got {value!r}")
        if self.ready_replicas < 0:
            raise ValueError(f"Observation.ready_replicas must be >= 0, got {self.ready_replicas}")
