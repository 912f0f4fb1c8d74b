"""A replica costs GPU time from the moment it is asked for: its cold start is billed.

Checked through `simulate` (the runner's arrival span, which recomputes GPU-hours) and the
summary, not only the fleet's tick loop: a replay that billed only ready replicas would
make every scaling policy look cheaper by its cold starts, the predictive one most, since
it starts replicas earliest.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulations import runner
from simulations.fleet.physics import FleetPhysics
from simulations.report.summary import policy_summary
from simulations.runner import POLICY_NAMES, simulate
from simulations.traces.request_trace import RequestTrace
from tests.simulations.fleet_helpers import FixedPolicy, constant_trace, profile

COLD_START_S = 300.0
SPAN_S = 3600  # constant_trace(rps=1, duration_s=3600): arrivals at 0 .. 3,599 s, 3,600 ticks


def _scripted(schedule: list[tuple[float, int]], gpus_per_replica: int, monkeypatch):
    """Replays one hour of 1 req/s through `simulate` with a scripted policy in place of the
    named one, on a fleet whose cold start is exactly COLD_START_S (no jitter)."""
    prof = profile(
        cold_start_s=COLD_START_S,
        capacity={
            "prompt_tokens_per_s": 9000.0,
            "generation_tokens_per_s": 900.0,
            "kv_cache_tokens": 1_000_000.0,
            "gpus_per_replica": gpus_per_replica,
        },
    )
    physics = FleetPhysics.from_profile(prof, cold_start_jitter=0.0)
    policy = FixedPolicy(schedule, interval_s=15.0)
    monkeypatch.setattr(runner, "build_policy", lambda *args, **kwargs: policy)
    (run,) = simulate(constant_trace(rps=1, duration_s=SPAN_S), prof, physics, ["static"])
    assert run.tick_s == 1.0 and run.t_s.size == SPAN_S
    return run


@pytest.mark.parametrize("gpus_per_replica", [1, 2], ids=["1-gpu", "2-gpu"])
def test_a_scale_up_is_billed_from_the_request_cold_start_included(
    gpus_per_replica: int, monkeypatch
) -> None:
    """1 replica, then 5 asked for at 600 s: the 4 new ones serve from 900 s but hold their
    GPUs from 600 s. Billed: 1 x 600 s + 5 x 3,000 s = 15,600 replica-seconds = 4.333 h per
    GPU of a replica; ready replicas alone would be 14,400 (4.0 h), missing 4 x 300 s."""
    run = _scripted([(0.0, 1), (600.0, 5)], gpus_per_replica, monkeypatch)
    # The scenario is what it says: asked at 600 s, serving only after the cold start.
    assert run.requested_replicas[599] == 1 and run.requested_replicas[600] == 5
    assert run.ready_replicas[600:900].max() == 1 and run.ready_replicas[900] == 5

    expected_h = (1 * 600 + 5 * (SPAN_S - 600)) * gpus_per_replica / 3600
    assert run.gpu_hours == pytest.approx(expected_h, rel=1e-12)
    ready_h = float(run.ready_replicas.sum()) * gpus_per_replica / 3600
    assert run.gpu_hours - ready_h == pytest.approx(4 * COLD_START_S * gpus_per_replica / 3600)
    summary = policy_summary(run)
    assert summary["gpu_hours"] == pytest.approx(expected_h, rel=1e-5)
    assert summary["mean_replicas"] == pytest.approx(15_600 / SPAN_S, rel=1e-5)
    assert summary["peak_replicas"] == 5


def test_a_start_cancelled_before_it_serves_is_billed_for_the_time_it_held(
    monkeypatch,
) -> None:
    """5 asked for at 600 s, back to 1 at 750 s: the 4 starts never serve, yet held their
    GPUs for 150 s each. Billed: 3,600 + 4 x 150 = 4,200 replica-seconds."""
    run = _scripted([(0.0, 1), (600.0, 5), (750.0, 1)], 1, monkeypatch)
    assert run.ready_replicas.max() == 1
    assert run.replica_changes == 2
    assert run.gpu_hours == pytest.approx((SPAN_S + 4 * 150) / 3600, rel=1e-12)


def _step_trace() -> RequestTrace:
    """30 min at 2 req/s, then 30 min at 40 req/s (900-token prompts): every scaling
    policy has to start replicas, with a fixed seed for the cold-start jitter."""
    low = np.arange(0.0, 1800.0, 1 / 2)
    high = 1800.0 + np.arange(0.0, 1800.0, 1 / 40)
    arrival = np.concatenate([low, high])
    n = arrival.size
    return RequestTrace("step", arrival, np.full(n, 900, np.int32), np.full(n, 9, np.int32))


def test_every_policy_pays_at_least_the_cold_start_of_each_replica_it_started() -> None:
    """For any policy: each replica that came to serve during the replay was asked for at
    least a cold start earlier (x (1 - jitter)) and billed since, so GPU-hours exceed the
    ready replica-hours by at least that much per replica that became ready."""
    prof = profile(cold_start_s=COLD_START_S)
    physics = FleetPhysics.from_profile(prof)  # default jitter: starts take 270 .. 330 s
    shortest_start_s = COLD_START_S * (1 - physics.cold_start_jitter)
    runs = simulate(_step_trace(), prof, physics, POLICY_NAMES, seed=3)
    scaled_up = 0
    for run in runs:
        billed_s = run.gpu_hours * 3600 / physics.gpus_per_replica
        assert billed_s == pytest.approx(float(run.requested_replicas.sum()), rel=1e-12)
        became_ready = int(np.clip(np.diff(run.ready_replicas), 0, None).sum())
        scaled_up += became_ready > 0
        cold_start_s = billed_s - float(run.ready_replicas.sum())
        assert cold_start_s >= became_ready * shortest_start_s - 1e-6, run.policy
    assert scaled_up >= 4  # all but static started replicas: the check above had work to do
