"""Replays offered load against one policy: the fleet's tick loop.

Each tick: starting replicas whose cold start elapsed begin serving; the ready replicas
serve the backlog plus the tick's new work, up to their capacity (reduced when the mix of
requests holds more KV per unit of work than a replica's budget); every `policy.interval_s`
the policy sees what Prometheus would show and names a replica count. Routing is
least-loaded over ready replicas, which for identical replicas behaves as one pooled queue,
so the fleet is modelled as one queue with capacity proportional to the ready count.

The loop is plain Python over plain floats: ~600 k ticks for a week in a few seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from autoscaler.observation import Observation
from simulations.fleet.offered_load import OfferedLoad
from simulations.fleet.physics import FleetPhysics
from simulations.fleet.placed_replicas import PlacedReplicaSet
from simulations.fleet.placement import Placer, SimPlacement
from simulations.fleet.replicas import ReplicaSet
from simulations.fleet.ttft import request_ttft
from simulations.policies.policy import Policy
from simulations.run_result import PolicyRun
from simulations.traces.request_trace import RequestTrace


def replay(
    trace: RequestTrace,
    offered: OfferedLoad,
    policy: Policy,
    physics: FleetPhysics,
    *,
    initial_replicas: int,
    slo_ttft_s: float,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    placement: SimPlacement | None = None,
) -> PolicyRun:
    """Replays `offered` (built from `trace`) against `policy`; `progress(ticks_done)` is
    called every ~1 % of the ticks. With `placement`, every replica is placed on its
    inventory first (`placed_replicas`): a shortage leaves replicas pending."""
    rng = np.random.default_rng(seed)
    fleet: ReplicaSet | PlacedReplicaSet
    if placement is None:
        fleet = ReplicaSet(
            initial_ready=initial_replicas,
            cold_start_s=physics.cold_start_s,
            jitter=physics.cold_start_jitter,
            rng=rng,
        )
    else:
        fleet = PlacedReplicaSet(
            initial_ready=initial_replicas,
            cold_start_s=physics.cold_start_s,
            jitter=physics.cold_start_jitter,
            rng=rng,
            placer=Placer(placement, physics.node_provision_s),
        )
    n, tick_s = offered.n_ticks, offered.tick_s
    work, kv = offered.work.tolist(), offered.kv_tokens_in_flight.tolist()
    kv_share = offered.kv_capacity_share.tolist()
    prompt, generation = offered.prompt_tokens.tolist(), offered.generation_tokens.tolist()
    requests = offered.requests.tolist()
    # Clients give up after request_timeout_s and vLLM aborts their requests, so the backlog
    # never holds more than the work that arrived within the timeout.
    window = max(1, round(physics.request_timeout_s / tick_s))
    arrived_cum = np.cumsum(offered.work)
    recent = arrived_cum.copy()
    recent[window:] -= arrived_cum[:-window]
    recent_work = recent.tolist()
    observe = _ObservationBuilder(offered, physics, policy.interval_s)
    queue = _WaitingRequests(offered)

    ready_arr = np.empty(n, dtype=np.int32)
    requested_arr = np.empty(n, dtype=np.int32)
    unplaced_arr = np.zeros(n, dtype=np.int32) if placement is not None else None
    effective_arr = np.empty(n)
    departed_cum = np.empty(n)
    backlog_end = np.empty(n)
    every = max(1, round(policy.interval_s / tick_s))
    backlog = departed = 0.0
    changes = 0
    report_every = max(1, n // 100)
    for k in range(n):
        now_s = k * tick_s
        if progress is not None and k % report_every == 0:
            progress(k)
        if k and k % every == 0:
            waiting = queue.count(k - 1, departed) if backlog > 1e-9 else 0
            obs = observe.build(now_s, fleet.ready, waiting, kv[k - 1])
            changes += fleet.scale_to(policy.decide(obs, now_s), now_s)
        fleet.advance_to(now_s)
        ready = fleet.ready
        # A mix holding more KV per unit of work than a replica's budget serves less of it.
        effective = ready * kv_share[k]
        total = backlog + work[k]
        served = min(total, effective * tick_s)
        backlog = total - served
        departed += served
        if backlog > recent_work[k]:
            # Abandoned work leaves the FIFO too: it counts as departed for queue positions.
            departed += backlog - recent_work[k]
            backlog = recent_work[k]
        observe.add(work[k], served, prompt[k], generation[k], requests[k])
        ready_arr[k] = ready
        requested_arr[k] = fleet.requested
        if unplaced_arr is not None:
            unplaced_arr[k] = fleet.unplaced  # type: ignore[union-attr]
        effective_arr[k] = effective
        departed_cum[k] = departed
        backlog_end[k] = backlog

    if progress is not None:
        progress(n)
    ttft, dropped = request_ttft(trace, offered, physics, departed_cum, backlog_end, effective_arr)
    gpu_hours = float(requested_arr.sum(dtype=np.int64)) * tick_s * physics.gpus_per_replica / 3600
    return PolicyRun(
        policy=policy.name,
        tick_s=tick_s,
        t_s=np.arange(n) * tick_s,
        demand_replicas=offered.slo_demand_replicas,
        ready_replicas=ready_arr,
        requested_replicas=requested_arr,
        ttft_s=ttft,
        dropped=dropped,
        gpu_hours=gpu_hours,
        replica_changes=changes,
        slo_ttft_s=slo_ttft_s,
        unplaced_replicas=unplaced_arr,
        placement=fleet.totals() if isinstance(fleet, PlacedReplicaSet) else None,
    )


class _ObservationBuilder:
    """Turns recent ticks into what vLLM's metrics would report through Prometheus.

    Rates cover the trailing `rate_window_s` like `rate(x[1m])`; gauges (queue, KV) are read
    at the instant. Token counters count *served* tokens, so served rates flatten at
    saturation while the queue grows; running requests follow Little's law (served request
    rate x decode time); the queue is the count of requests waiting (`_WaitingRequests`).
    """

    def __init__(self, offered: OfferedLoad, physics: FleetPhysics, interval_s: float) -> None:
        self._physics = physics
        self._decode_s = offered.mean_output_tokens / physics.decode_tokens_per_s_per_seq
        keep = max(1, round(physics.rate_window_s / interval_s))
        self._intervals: deque[tuple[float, float, float, float, float, float]] = deque(maxlen=keep)
        self._since_s = 0.0
        self._reset()

    def _reset(self) -> None:
        self._offered = self._served = self._prompt = self._generation = self._requests = 0.0

    def add(self, offered: float, served: float, prompt: float, gen: float, reqs: float) -> None:
        self._offered += offered
        self._served += served
        self._prompt += prompt
        self._generation += gen
        self._requests += reqs

    def build(self, now_s: float, ready: int, waiting: int, kv_held: float) -> Observation:
        self._intervals.append(
            (
                now_s - self._since_s,
                self._offered,
                self._served,
                self._prompt,
                self._generation,
                self._requests,
            )
        )
        self._since_s = now_s
        self._reset()
        span_s, offered, served, prompt, generation, requests = (
            sum(column) for column in zip(*self._intervals, strict=True)
        )
        if ready == 0:
            # No pod, no vLLM series: production sees no rates and no queue (the requests
            # wait in clients or the gateway, which vLLM does not count). Give the engine the
            # same, so the simulator cannot wake a model that production could not.
            return Observation(now_s, 0.0, 0.0, 0.0, 0.0, 0.0, ready_replicas=0)
        span_s = max(span_s, 1e-9)
        share = served / offered if offered > 0 else 0.0
        served_requests_per_s = requests * share / span_s
        running = min(served_requests_per_s * self._decode_s, ready * self._physics.max_num_seqs)
        kv_usage = min(1.0, kv_held / (ready * self._physics.kv_cache_tokens)) if ready else 0.0
        return Observation(
            t_s=now_s,
            prompt_tokens_per_s=prompt * share / span_s,
            generation_tokens_per_s=generation * share / span_s,
            requests_running=running,
            requests_waiting=float(waiting),
            kv_cache_usage=kv_usage,
            ready_replicas=ready,
            requests_per_s=served_requests_per_s,
        )


class _WaitingRequests:
    """`vllm:num_requests_waiting` of the fluid FIFO queue: requests that arrived and have
    not begun service.

    Request i occupies cumulative work (A_i - w_i, A_i], A_i its `request_work_cum`; it has
    begun once departures (served plus abandoned work) exceed A_i - w_i. Counting requests
    rather than dividing the backlog by the trace's mean request keeps the queue what vLLM
    reports when request sizes change over time: 100 replica-seconds of 2.0-replica-second
    requests are 50 waiting, not the 500 a trace-wide mean of 0.2 would make of them.
    """

    def __init__(self, offered: OfferedLoad) -> None:
        self._work_cum = offered.request_work_cum
        self._arrived_cum = np.cumsum(offered.requests).astype(np.int64).tolist()

    def count(self, k: int, departed: float) -> int:
        """Requests waiting at the end of tick `k` after `departed` replica-seconds left."""
        arrived = self._arrived_cum[k]
        # Cumulative sums in a different order differ in the last bits: allow for it.
        slack = 1e-9 * max(departed, 1.0)
        finished = int(np.searchsorted(self._work_cum, departed + slack, side="right"))
        if finished >= arrived:
            return 0
        begun_at = float(self._work_cum[finished - 1]) if finished else 0.0
        in_service = 1 if departed - begun_at > slack else 0
        return max(0, arrived - finished - in_service)
