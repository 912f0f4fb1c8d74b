"""What the emulated fleet exports at one instant: one series set per (pod, engine).

Values, not behaviour: the fleet builds a snapshot under its lock and the exposition renders
it without touching the fleet again, so a scrape never sees half an update.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SeriesSample:
    """One vLLM engine's metrics: its counters since its (re)start and its gauges now."""

    pod: str
    engine: str
    prompt_tokens: float  # vllm:prompt_tokens_total
    generation_tokens: float  # vllm:generation_tokens_total
    requests_stopped: float  # vllm:request_success_total{finished_reason="stop"}
    requests_aborted: float  # ...{finished_reason="abort"}: clients that gave up waiting
    requests_running: float
    requests_waiting: float
    kv_cache_usage: float  # 0..1
    ttft_buckets: tuple[float, ...]  # cumulative counts, one per TTFT_BUCKETS_S (last: +Inf)
    ttft_sum_s: float
    created_s: float  # when these counters last started from 0 (the `_created` series)

    @property
    def ttft_count(self) -> float:
        return self.ttft_buckets[-1]


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    """The whole fleet at clock time `t_s`, fleet-wide totals beside the per-engine series.

    Totals count since the last `restart()`; unlike a sum over the series they include
    pods that were scaled away, so tests can compare them with the trace directly.
    """

    model_name: str
    t_s: float  # clock time
    trace_s: int  # trace seconds replayed since start (not wrapped)
    trace_position_s: int  # where in the trace the replay is (wrapped when looping)
    ready_replicas: int
    prompt_tokens_total: float
    generation_tokens_total: float
    requests_finished_total: float  # served (finished_reason="stop")
    requests_aborted_total: float
    requests_running: float
    requests_waiting: float
    kv_cache_usage: float
    series: tuple[SeriesSample, ...]
