"""A trace turned into per-tick offered work: computed once, shared by every policy's replay.

Work is measured in replica-seconds at saturation: a request with 2,000 prompt and 100
output tokens on a replica saturating at 8,889 prompt and 2,778 gen tok/s is
2000/8889 + 100/2778 = 0.261 replica-seconds. Output work is charged at arrival; at tick
scale (1 s) against request lifetimes of seconds this only shifts work slightly earlier.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simulations.fleet.physics import FleetPhysics
from simulations.traces.request_trace import RequestTrace
from simulations.traces.span import check_replay_span


@dataclass(frozen=True)
class OfferedLoad:
    tick_s: float
    n_ticks: int
    request_tick: np.ndarray  # int64, per request
    request_work_cum: np.ndarray  # float64, per request: work of requests up to and incl. it
    work: np.ndarray  # per tick, replica-seconds at saturation
    prompt_tokens: np.ndarray  # per tick
    generation_tokens: np.ndarray  # per tick
    requests: np.ndarray  # per tick
    kv_tokens_in_flight: np.ndarray  # per tick, KV tokens held by requests decoding
    # Per tick, the share of a replica's throughput its KV budget lets it use (see
    # `_kv_capacity_share`): 1.0 unless the mix decoding holds more KV per unit of work.
    kv_capacity_share: np.ndarray
    mean_prompt_tokens: float
    mean_output_tokens: float
    knee_utilisation: float
    drain_ticks: int = 0  # arrival-free ticks at the end (see from_trace)

    @property
    def slo_demand_replicas(self) -> np.ndarray:
        """Offered work per tick in replicas at 100 % of the SLO capacity (for plots/oracle)."""
        return self.work / (self.tick_s * self.knee_utilisation)

    @property
    def arrival_ticks(self) -> int:
        """Ticks up to and including the last arrival's: the span that is scored and paid."""
        return self.n_ticks - self.drain_ticks

    def arrivals_only(self) -> OfferedLoad:
        """The same load without the drain ticks (per-request arrays are shared)."""
        m = self.arrival_ticks
        return replace(
            self,
            n_ticks=m,
            drain_ticks=0,
            work=self.work[:m],
            prompt_tokens=self.prompt_tokens[:m],
            generation_tokens=self.generation_tokens[:m],
            requests=self.requests[:m],
            kv_tokens_in_flight=self.kv_tokens_in_flight[:m],
            kv_capacity_share=self.kv_capacity_share[:m],
        )

    @classmethod
    def from_trace(
        cls, trace: RequestTrace, physics: FleetPhysics, tick_s: float = 1.0, drain_s: float = 0.0
    ) -> OfferedLoad:
        """`drain_s` adds arrival-free ticks after the last arrival, so a replay can serve the
        backlog the trace ends with instead of counting it as never served. A trace longer
        than `span.MAX_REPLAY_SPAN_S` is a TraceFormatError naming it, before any per-tick
        array exists."""
        check_replay_span(trace)
        drain_ticks = int(np.ceil(drain_s / tick_s))
        n_ticks = int(np.floor(trace.duration_s / tick_s)) + 1 + drain_ticks
        tick = (trace.arrival_s // tick_s).astype(np.int64)
        prompt = trace.prompt_tokens.astype(np.float64)
        output = trace.output_tokens.astype(np.float64)
        work_each = (
            prompt / physics.saturation_prompt_tokens_per_s
            + output / physics.saturation_generation_tokens_per_s
        )
        kv, load = _in_flight(trace, work_each, tick_s, n_ticks, physics)
        n = max(trace.n_requests, 1)
        return cls(
            tick_s=tick_s,
            n_ticks=n_ticks,
            request_tick=tick,
            request_work_cum=np.cumsum(work_each),
            work=np.bincount(tick, weights=work_each, minlength=n_ticks),
            prompt_tokens=np.bincount(tick, weights=prompt, minlength=n_ticks),
            generation_tokens=np.bincount(tick, weights=output, minlength=n_ticks),
            requests=np.bincount(tick, minlength=n_ticks).astype(np.float64),
            kv_tokens_in_flight=kv,
            kv_capacity_share=_kv_capacity_share(kv, load, physics.kv_cache_tokens),
            mean_prompt_tokens=float(prompt.sum()) / n,
            mean_output_tokens=float(output.sum()) / n,
            knee_utilisation=physics.knee_utilisation,
            drain_ticks=drain_ticks,
        )


def _in_flight(
    trace: RequestTrace,
    work_each: np.ndarray,
    tick_s: float,
    n_ticks: int,
    physics: FleetPhysics,
) -> tuple[np.ndarray, np.ndarray]:
    """Per tick, with every request decoding from its arrival: the KV tokens held (prompt +
    output while it decodes) and the load in flight (each request's work spread over its
    decode time, in replicas)."""
    start = (trace.arrival_s // tick_s).astype(np.int64)
    duration_ticks = np.ceil(
        trace.output_tokens / physics.decode_tokens_per_s_per_seq / tick_s
    ).astype(np.int64)
    end = np.minimum(start + np.maximum(duration_ticks, 1), n_ticks)
    # In float64: two int32 counts near 2**31 would wrap to a negative sum in int32.
    held = trace.prompt_tokens.astype(np.float64) + trace.output_tokens
    rate = work_each / (np.maximum(duration_ticks, 1) * tick_s)
    return _spans_sum(start, end, held, n_ticks), _spans_sum(start, end, rate, n_ticks)


def _spans_sum(start: np.ndarray, end: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Per tick, the sum of the weights whose span [start, end) covers it."""
    delta = np.bincount(start, weights=weights, minlength=n + 1)
    delta -= np.bincount(end, weights=weights, minlength=n + 1)
    return np.maximum(np.cumsum(delta)[:n], 0.0)  # cumsum noise must not go negative


def _kv_capacity_share(kv: np.ndarray, load: np.ndarray, kv_budget_tokens: float) -> np.ndarray:
    """The share of a replica's token throughput that fits its KV cache, per tick.

    Serving L replicas of load holds L x (KV tokens per replica of load) by Little's law, so
    a replica whose budget is below that ratio serves budget / ratio of a replica's work.
    The ratio is the mix's, read from what would be decoding: requests waiting in a queue
    hold no KV (vLLM admits a request only when its blocks fit), so an overloaded fleet
    still serves at full speed. Sizing the shortfall on everything offered instead cut a
    fleet of 1 replica facing 15 replicas of load to 1/15 of its throughput for as long as
    the queue lasted, and a policy scaling on served tokens never saw the demand. Worked
    number: 400,000 KV tokens a replica; a mix holding 800,000 KV tokens per replica of
    load serves at 0.5 of a replica's token work; at 72,000 (ServeGen scaled), at 1.0.
    """
    share = np.ones_like(kv)
    binding = (load > 1e-9) & (kv > kv_budget_tokens * load)
    share[binding] = kv_budget_tokens * load[binding] / kv[binding]
    return share
