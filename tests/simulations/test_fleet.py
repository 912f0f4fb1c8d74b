"""Fleet invariants: nothing serves before it is ready, GPU-hours add up, capacity has a knee."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.fleet.offered_load import OfferedLoad
from simulations.fleet.physics import FleetPhysics
from simulations.fleet.replay import replay
from simulations.fleet.replicas import ReplicaSet
from simulations.policies.predictive import PredictivePolicy
from simulations.traces.request_trace import RequestTrace
from tests.simulations.fleet_helpers import FixedPolicy, constant_trace, profile

# 900 prompt + 9 output tokens; saturation 10,000 prompt / 1,000 gen tok/s (knee 0.9):
# 0.09 + 0.009 = 0.099 replica-seconds of work per request.
WORK_PER_REQUEST = 900 / 10_000 + 9 / 1_000


def _physics(**overrides: float) -> FleetPhysics:
    return FleetPhysics.from_profile(profile(), cold_start_jitter=0.0, **overrides)


def _replay(trace, policy, physics, initial=0):
    offered = OfferedLoad.from_trace(trace, physics)
    return offered, replay(
        trace, offered, policy, physics, initial_replicas=initial, slo_ttft_s=2.0, seed=1
    )


def test_offered_work_matches_hand_computation() -> None:
    trace = constant_trace(rps=10, duration_s=60)
    offered = OfferedLoad.from_trace(trace, _physics())
    assert offered.work.sum() == pytest.approx(600 * WORK_PER_REQUEST)
    assert offered.requests.sum() == 600
    # 10 req/s x 0.099 s at saturation = 0.99 saturation replicas = 1.1 SLO replicas.
    assert offered.slo_demand_replicas[5] == pytest.approx(0.99 / 0.9)


def test_huge_token_counts_do_not_wrap_the_kv_in_flight() -> None:
    """Loaders accept counts up to 2**31 - 1; prompt + output used to be summed in int32 and
    wrap negative, and the replay crashed on a negative KV usage."""
    big = 2**31 - 1
    trace = RequestTrace(
        "huge",
        np.array([0.0, 1.0]),
        np.array([big, 100], dtype=np.int32),
        np.array([10, big], dtype=np.int32),
    )
    offered = OfferedLoad.from_trace(trace, _physics())
    assert offered.kv_tokens_in_flight[0] == big + 10
    assert offered.kv_tokens_in_flight.min() >= 0
    run = replay(
        trace,
        offered,
        FixedPolicy([(0.0, 2)]),
        _physics(),
        initial_replicas=1,
        slo_ttft_s=2.0,
    )
    assert run.ttft_s.size == 2


def test_no_request_is_served_before_a_replica_is_ready() -> None:
    trace = constant_trace(rps=5, duration_s=400)
    policy = FixedPolicy([(0.0, 3)])
    _, run = _replay(trace, policy, _physics())  # first decision at 5 s, ready at 105 s
    assert run.ready_replicas[:105].max() == 0
    assert run.ready_replicas[105] == 3
    early = trace.arrival_s < 100
    # Every early request waited at least until the first replica started serving.
    assert np.all(trace.arrival_s[early] + run.ttft_s[early] >= 105 - 1e-6)
    assert not run.dropped[early].any()  # 105 s < the 120 s client timeout


def test_gpu_hours_count_from_request_to_release_including_cold_start() -> None:
    trace = constant_trace(rps=1, duration_s=3600)
    policy = FixedPolicy([(0.0, 4), (1800.0, 1)], interval_s=10.0)
    _, run = _replay(trace, policy, _physics(), initial=1)
    # The first decision (10 s) asks for 3 more; their 100 s cold start ends at 110 s.
    assert run.requested_replicas[10] == 4 and run.ready_replicas[10:110].max() == 1
    assert run.ready_replicas[110] == 4
    # Billed from the request, cold start included: 1 replica for 10 s, 4 until the
    # release at 1,800 s, 1 after (1 s ticks). Ready replicas alone would miss 3 x 100 s.
    assert run.tick_s == 1.0
    ticks = run.t_s.size
    expected = (1 * 10 + 4 * (1800 - 10) + 1 * (ticks - 1800)) / 3600
    assert run.gpu_hours == pytest.approx(expected)
    assert run.gpu_hours - run.ready_replicas.sum() / 3600 == pytest.approx(3 * 100 / 3600)
    assert run.replica_changes == 2


def test_cancelled_start_costs_what_it_held() -> None:
    fleet = ReplicaSet(initial_ready=1, cold_start_s=100, jitter=0.0, rng=np.random.default_rng(0))
    assert fleet.scale_to(3, now_s=0.0)
    assert (fleet.ready, fleet.requested) == (1, 3)
    assert fleet.scale_to(2, now_s=50.0)  # cancels a start, not the serving replica
    assert (fleet.ready, fleet.requested) == (1, 2)
    fleet.advance_to(99.9)
    assert fleet.ready == 1
    fleet.advance_to(100.0)
    assert (fleet.ready, fleet.requested) == (2, 2)


def test_cold_start_jitter_stays_within_bounds_and_is_seeded() -> None:
    def ready_times(seed: int) -> list[float]:
        fleet = ReplicaSet(
            initial_ready=0, cold_start_s=300, jitter=0.2, rng=np.random.default_rng(seed)
        )
        fleet.scale_to(50, 0.0)
        return list(fleet._starting)

    times = ready_times(7)
    assert min(times) >= 240 and max(times) <= 360
    assert times == ready_times(7)
    assert times != ready_times(8)


@pytest.mark.parametrize(
    "utilisation",
    [0.3, 0.6, 0.8, 0.9, 0.95],
    ids=lambda u: f"util-{u:.2f}",
)
def test_ttft_rises_with_utilisation(utilisation: float) -> None:
    """Median TTFT grows with load and is many times the idle value near saturation."""
    replicas = 4
    rps = utilisation * replicas / WORK_PER_REQUEST
    trace = constant_trace(rps=rps, duration_s=600)
    physics = _physics()
    _, run = _replay(trace, FixedPolicy([(0.0, replicas)]), physics, initial=replicas)
    settled = trace.arrival_s > 120
    median = float(np.median(run.ttft_s[settled]))
    idle = physics.overhead_s + 900 / physics.prefill_tokens_per_s
    service = 900 / physics.prefill_tokens_per_s
    expected = idle + service * utilisation / (1 - utilisation)  # M/M/1 term on mean load
    assert median == pytest.approx(expected, rel=0.02)


def test_overload_builds_a_backlog_that_ends_in_dropped_requests() -> None:
    replicas = 2
    rps = 1.5 * replicas / WORK_PER_REQUEST  # 150 % of saturation
    trace = constant_trace(rps=rps, duration_s=900)
    _, run = _replay(trace, FixedPolicy([(0.0, replicas)]), _physics(), initial=replicas)
    late = trace.arrival_s > 600
    assert run.dropped[late].all()  # the queue is minutes long by then
    assert not run.dropped[trace.arrival_s < 30].any()


def test_full_kv_cache_scales_throughput_by_the_share_that_fits() -> None:
    """Each request holds 909 KV tokens for its 1 s decode and brings 0.099 replica-seconds of
    work: 9,182 KV tokens per replica of load. A replica with 5,000 serves 5,000 / 9,182 =
    0.545 of its token work, so 3 replicas serve 1.63 replicas of load; 15 req/s is 1.485 of
    it: utilisation 0.91, no backlog, and TTFT follows that utilisation."""
    trace = constant_trace(rps=15, duration_s=600, prompt=900, output=9)
    physics = _physics(kv_cache_tokens=5_000.0, decode_tokens_per_s_per_seq=9.0)
    _, run = _replay(trace, FixedPolicy([(0.0, 3)]), physics, initial=3)
    settled = trace.arrival_s > 120
    share = 5_000 / (909 * 1.0 / WORK_PER_REQUEST)
    utilisation = 15 * WORK_PER_REQUEST / (3 * share)
    service = 900 / physics.prefill_tokens_per_s
    expected = physics.overhead_s + service + service * utilisation / (1 - utilisation)
    assert not run.dropped.any()
    assert float(np.median(run.ttft_s[settled])) == pytest.approx(expected, rel=0.03)
    roomy = _physics(decode_tokens_per_s_per_seq=9.0)
    _, roomy_run = _replay(trace, FixedPolicy([(0.0, 3)]), roomy, initial=3)
    assert np.median(run.ttft_s[settled]) > np.median(roomy_run.ttft_s[settled])


def test_a_queue_holds_no_kv_so_an_overloaded_fleet_serves_at_full_speed() -> None:
    """1 replica facing 15 replicas of load whose mix fits its KV cache easily: waiting
    requests hold no KV, so it serves its full token capacity for as long as the queue lasts
    (it used to serve 1/15 of it: the offered KV was counted as held)."""
    replicas = 1
    rps = 15 * replicas / WORK_PER_REQUEST
    trace = constant_trace(rps=rps, duration_s=300)
    policy = FixedPolicy([(0.0, replicas)])
    physics = _physics(kv_cache_tokens=20_000.0)  # 9,182 KV tokens a replica of load needs
    offered, _ = _replay(trace, policy, physics, initial=replicas)
    assert offered.kv_tokens_in_flight.min() > 5 * physics.kv_cache_tokens * replicas
    full_prompt_rate = replicas * 10_000 * (0.09 / WORK_PER_REQUEST)
    late = [obs for obs in policy.seen if obs.t_s > 90]
    assert late and all(obs.requests_waiting > 0 for obs in late)
    for obs in late:
        assert obs.prompt_tokens_per_s == pytest.approx(full_prompt_rate, rel=0.02)


def test_observations_follow_vllm_semantics_under_saturation() -> None:
    """Served token rates flatten at capacity while the queue grows, until clients that
    waited past the timeout abandon: then the queue holds at most the timeout's arrivals."""
    replicas = 2
    rps = 2.0 * replicas / WORK_PER_REQUEST
    trace = constant_trace(rps=rps, duration_s=400)
    policy = FixedPolicy([(0.0, replicas)])
    physics = _physics()
    _replay(trace, policy, physics, initial=replicas)
    served_prompt_capacity = replicas * 10_000 * (0.09 / WORK_PER_REQUEST)
    for obs in policy.seen:
        assert obs.prompt_tokens_per_s <= served_prompt_capacity * 1.01
        assert obs.ready_replicas == replicas
    waiting = {obs.t_s: obs.requests_waiting for obs in policy.seen}
    growing = [waiting[t] for t in sorted(waiting) if t <= physics.request_timeout_s]
    assert growing == sorted(growing) and growing[-1] > growing[0] > 0
    cap = rps * physics.request_timeout_s
    late = [waiting[t] for t in sorted(waiting) if t > physics.request_timeout_s + 30]
    assert all(w <= cap * 1.01 for w in late)
    assert late[-1] == pytest.approx(cap, rel=0.05)


def test_with_nothing_ready_the_policy_sees_what_prometheus_shows_nothing() -> None:
    """No pod, no vLLM series: no queue and no rates, however many requests wait."""
    trace = constant_trace(rps=5, duration_s=300)
    policy = FixedPolicy([(0.0, 3)])
    _replay(trace, policy, _physics())  # ready at 105 s
    before = [obs for obs in policy.seen if obs.t_s < 105]
    assert before and all(obs.ready_replicas == 0 for obs in before)
    assert all(
        (obs.requests_waiting, obs.prompt_tokens_per_s, obs.requests_per_s) == (0, 0, 0)
        for obs in before
    )
    after = [obs for obs in policy.seen if obs.t_s > 110]
    assert after[0].ready_replicas == 3 and after[0].requests_waiting > 0


def test_the_simulated_engine_cannot_wake_on_a_queue_production_cannot_see() -> None:
    """At zero with no forecast, production's engine sees no series and stays at zero; the
    simulator's must too (it used to see the queue and scale up on it)."""
    trace = constant_trace(rps=5, duration_s=600)
    policy = PredictivePolicy(profile(), initial_replicas=0)
    _, run = _replay(trace, policy, _physics())
    assert run.requested_replicas.max() == 0


def test_the_queue_counts_the_requests_waiting_when_their_size_changes() -> None:
    """vLLM's num_requests_waiting counts requests, whatever their size. 3,000 small requests
    (0.099 replica-seconds) served with room to spare, then 4/s long ones (9,000 + 90 tokens,
    0.99 replica-seconds) against 2 replicas: 3.96 replica-seconds arrive per second, 2 are
    served, so after n seconds 4n have arrived and 2n/0.99 have begun. The trace-wide mean
    request (0.165 replica-seconds) made that backlog ~6x as many requests."""
    small_n, long_rps, long_s = 3000, 4.0, 60
    long_n = int(long_rps * long_s)
    arrival = np.concatenate([np.arange(small_n) / 10.0, 300.0 + np.arange(long_n) / long_rps])
    trace = RequestTrace(
        "small-then-long",
        arrival,
        np.concatenate([np.full(small_n, 900), np.full(long_n, 9000)]).astype(np.int32),
        np.concatenate([np.full(small_n, 9), np.full(long_n, 90)]).astype(np.int32),
    )
    long_work = 9000 / 10_000 + 90 / 1_000
    policy = FixedPolicy([(0.0, 2)])
    _replay(trace, policy, _physics(), initial=2)
    seen = {round(obs.t_s): obs.requests_waiting for obs in policy.seen}
    assert all(seen[t] == 0 for t in seen if 10 <= t <= 300)
    checked = 0
    for t in range(305, 300 + long_s, 5):  # the last tick is 359: the last look is at 355
        n = t - 300  # the observation at t sees the queue after ticks 300 .. t - 1
        expected = long_rps * n - np.ceil(2 * n / long_work - 1e-9)
        assert seen[t] == pytest.approx(expected, abs=1), t
        checked += 1
    assert checked == 11 and seen[355] > 100
