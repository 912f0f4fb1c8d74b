"""The oracle is the yardstick every policy is scored against (GPU-hours "vs oracle", issue
17's bars), so its own look-ahead is tested, not only its numbers in the golden snapshot.

It must ask for a demand level at least the worst cold start (nominal x (1 + jitter)) plus
one decision interval before the smoothed demand reaches it, and give capacity back as soon
as the demand it plans for has passed.
"""

from __future__ import annotations

import numpy as np
import pytest

from autoscaler.capacity import replicas_for
from simulations.fleet.offered_load import OfferedLoad
from simulations.fleet.physics import FleetPhysics
from simulations.report.summary import slo_met
from simulations.runner import build_policy, initial_replicas, simulate
from simulations.traces.request_trace import RequestTrace
from tests.simulations.fleet_helpers import profile

COLD_START_S = 300.0
JITTER = 0.1
STEP_UP_S, STEP_DOWN_S, END_S = 1800, 3600, 5400
SMOOTHING_HALF_S = 30  # the oracle's 60 s centred mean


def _step_trace() -> RequestTrace:
    """2 req/s, 40 req/s from 1,800 s to 3,600 s, 2 req/s again (900-token prompts)."""
    arrival = np.concatenate(
        [
            np.arange(0.0, STEP_UP_S, 1 / 2),
            np.arange(float(STEP_UP_S), STEP_DOWN_S, 1 / 40),
            np.arange(float(STEP_DOWN_S), END_S, 1 / 2),
        ]
    )
    n = arrival.size
    return RequestTrace("step", arrival, np.full(n, 900, np.int32), np.full(n, 9, np.int32))


@pytest.fixture(scope="module")
def setup():
    prof = profile(cold_start_s=COLD_START_S)
    physics = FleetPhysics.from_profile(prof, cold_start_jitter=JITTER)
    offered = OfferedLoad.from_trace(_step_trace(), physics)
    oracle = build_policy("oracle", prof, offered, physics, initial_replicas(offered, prof))
    demand = offered.slo_demand_replicas
    low = replicas_for(float(demand[100 : STEP_UP_S - 100].mean()), prof.target_utilisation)
    high = replicas_for(
        float(demand[STEP_UP_S + 100 : STEP_DOWN_S - 100].mean()), prof.target_utilisation
    )
    assert high >= 4 * low  # the step is worth planning for
    return prof, physics, oracle, low, high


def test_the_oracle_asks_a_worst_cold_start_and_an_interval_ahead(setup) -> None:
    prof, physics, oracle, low, high = setup
    ahead_s = COLD_START_S * (1 + JITTER) + prof.decision_interval_s  # 345 s
    # The smoothed demand is fully up from STEP_UP_S + 30 s: asked for by then - ahead_s ...
    asked_by_s = STEP_UP_S + SMOOTHING_HALF_S - ahead_s
    grid = np.arange(0.0, END_S, prof.decision_interval_s)
    for t in grid[(grid >= asked_by_s) & (grid < STEP_DOWN_S - SMOOTHING_HALF_S)]:
        assert oracle.decide(None, float(t)) >= high, t
    # ... and not a moment before anything of the step is in sight.
    for t in grid[grid < STEP_UP_S - SMOOTHING_HALF_S - ahead_s - 1]:
        assert oracle.decide(None, float(t)) == low, t


def test_the_oracle_gives_capacity_back_once_the_peak_has_passed(setup) -> None:
    prof, _, oracle, low, high = setup
    assert oracle.decide(None, STEP_DOWN_S - SMOOTHING_HALF_S - 15.0) >= high
    for t in np.arange(STEP_DOWN_S + SMOOTHING_HALF_S, END_S, prof.decision_interval_s):
        assert oracle.decide(None, float(t)) == low, t


def test_in_the_replay_the_oracle_is_ready_for_the_step_whatever_the_jitter(setup) -> None:
    prof, physics, _, _, high = setup
    for seed in range(3):
        (run,) = simulate(_step_trace(), prof, physics, ["oracle"], seed=seed)
        assert run.ready_replicas[STEP_UP_S + SMOOTHING_HALF_S] >= high, seed
        assert slo_met(run).mean() >= 0.999, seed
