"""Past observations straight from the per-second arrays, for back-filling a forecaster.

The live fleet keeps only its last minute, so the past is recomputed from what the trace
*offered*, as if the fleet had always kept up (no queue, TTFT unknown) with the replica
count it has now (fixed) or would have had (auto-sized). That is the demand history a
restarted Prewarm wants. When the trace loops, the emulator has "always" been running:
times before the fleet started map to earlier laps, so a demo starts with a full window.
Everything is vectorised: a day of 15 s steps is a handful of numpy operations.
"""

from __future__ import annotations

import numpy as np

from autoscaler.observation import Observation
from simulations.emulator.trace_seconds import TraceSeconds
from simulations.fleet.physics import FleetPhysics

_EPS_S = 1e-9


def offered_history(
    seconds: TraceSeconds,
    physics: FleetPhysics,
    *,
    start_s: float,
    end_s: float,
    step_s: float,
    fleet_start_s: float,
    speed: float,
    loop: bool,
    window_s: int,
    fixed_replicas: int | None,
    engines_per_replica: int,
) -> list[Observation]:
    """Observations every `step_s` in [start_s, end_s] (clock seconds), oldest first.

    At clock time t the fleet has replayed K = floor((t - fleet_start_s) x speed) trace
    seconds; rates are the trace's sums over seconds [K - window_s, K) per wall second
    (window_s / speed of them). Without loop, steps before the start are left out.
    """
    if not step_s > 0:
        raise ValueError(f"step_s must be > 0, got {step_s}")
    if end_s < start_s:
        return []
    times = start_s + step_s * np.arange(int(np.floor((end_s - start_s) / step_s + _EPS_S)) + 1)
    k = np.floor((times - fleet_start_s) * speed + _EPS_S).astype(np.int64)
    if not loop:
        keep = k > 0
        times, k = times[keep], k[keep]
    if k.size == 0:
        return []
    n = seconds.n_s

    def summed(values: np.ndarray) -> np.ndarray:
        """Sum of `values` over absolute trace seconds [k - window_s, k)."""
        cum = np.concatenate([[0.0], np.cumsum(values)])

        def upto(x: np.ndarray) -> np.ndarray:
            if loop:
                return np.floor_divide(x, n) * cum[-1] + cum[np.mod(x, n)]
            return cum[np.clip(x, 0, n)]

        return upto(k) - upto(k - window_s)

    wall_s = window_s / speed
    prompt = summed(seconds.prompt_tokens) / wall_s
    generation = summed(seconds.generation_tokens) / wall_s
    requests = summed(seconds.requests) / wall_s
    last = np.mod(k - 1, n) if loop else np.clip(k - 1, 0, n - 1)
    past_end = np.zeros(k.size, dtype=bool) if loop else k > n
    if fixed_replicas is None:
        ready = np.where(past_end, seconds.idle_replicas, seconds.auto_replicas[last])
    else:
        ready = np.full(k.size, fixed_replicas)
    kv_held = np.where(past_end, 0.0, seconds.kv_tokens_in_flight[last])
    with np.errstate(divide="ignore", invalid="ignore"):
        kv_usage = np.where(ready > 0, kv_held / (ready * physics.kv_cache_tokens), 0.0)
    # Little's law in trace time (the trace's request rate is the wall rate / speed).
    batch_limit = ready * engines_per_replica * physics.max_num_seqs
    running = np.minimum(requests / speed * seconds.decode_s, batch_limit)
    return [
        Observation(
            t_s=float(times[j]),
            prompt_tokens_per_s=float(prompt[j]),
            generation_tokens_per_s=float(generation[j]),
            requests_running=float(running[j]),
            requests_waiting=0.0,
            kv_cache_usage=float(min(1.0, kv_usage[j])),
            ready_replicas=int(ready[j]),
            requests_per_s=float(requests[j]),
        )
        for j in range(k.size)
    ]
