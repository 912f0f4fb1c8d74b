"""The dynamo-like baseline: one interval ahead, no cold-start horizon, a queue correction."""

from __future__ import annotations

import numpy as np
import pytest

from autoscaler.capacity import replicas_for
from autoscaler.observation import Observation
from simulations.fleet.physics import FleetPhysics
from simulations.policies.dynamo_like import DynamoLikePolicy, build_predictor
from simulations.policies.predictive import PredictivePolicy
from simulations.runner import POLICY_NAMES, simulate
from tests.simulations.fleet_helpers import constant_trace, profile

HOUR_S = 3600.0
INTERVAL_S = 180.0  # Dynamo's default adjustment interval
POLL_S = 18.0  # the policy is polled ten times an interval


def _obs(t_s: float, load: float, *, waiting: float = 0.0, ready: int = 10) -> Observation:
    """`load` replicas of prompt work (9,000 tok/s each in the test profile), 10 requests/s
    per replica of work, so a request is 0.1 replica-seconds of work."""
    return Observation(
        t_s, load * 9000.0, 0.0, 0.0, waiting, 0.1, ready, requests_per_s=load * 10.0
    )


def _ramp(t_s: float) -> float:
    return 15.0 + t_s / 600.0  # +0.3 replicas of work per interval, 3.0 at -2 h


def _polls(start_s: float, end_s: float) -> np.ndarray:
    return np.arange(start_s + POLL_S, end_s + 1e-9, POLL_S)


@pytest.mark.parametrize(
    ("predictor", "history_s", "intervals"),
    # The Kalman needs 24 intervals of history; ARIMA 5, and each fit costs ~0.2-2 s.
    [("kalman", 2 * HOUR_S, 3), ("arima", 2 * HOUR_S, 1)],
    ids=["kalman", "arima"],
)
def test_follows_a_ramp_one_interval_ahead(
    predictor: str, history_s: float, intervals: int
) -> None:
    prof = profile(replicas={"min": 1, "max": 50})
    history = [_obs(t, _ramp(t)) for t in _polls(-history_s, 0.0)]  # back-filled, polled
    policy = DynamoLikePolicy(prof, 5, history, predictor=predictor)  # type: ignore[arg-type]
    for end_s in INTERVAL_S * np.arange(1, intervals + 1):
        for t in _polls(end_s - INTERVAL_S, end_s):
            replicas = policy.decide(_obs(t, _ramp(t)), t)
        # The interval's polls average the ramp 81 s before its end; the next one's, 180 s on.
        last_mean = _ramp(end_s - INTERVAL_S / 2 + POLL_S / 2)
        next_mean = _ramp(end_s + INTERVAL_S / 2 + POLL_S / 2)
        assert policy.last_prediction == pytest.approx(next_mean, abs=0.01)
        assert policy.last_prediction == pytest.approx(last_mean + 0.3, abs=0.01)
        assert replicas == replicas_for(policy.last_prediction, prof.target_utilisation)


def test_decides_once_an_interval_and_holds_in_between() -> None:
    policy = DynamoLikePolicy(profile(), 3, predictor="constant")
    answers = [policy.decide(_obs(t, 8.0), t) for t in _polls(0.0, 2 * INTERVAL_S)]
    assert policy.interval_s == POLL_S
    assert answers[:9] == [3] * 9  # the first interval has not ended: the start holds
    assert answers[9:] == [replicas_for(8.0, 0.8)] * 11


def test_a_step_after_the_cold_start_is_not_provisioned_early_unlike_predictive() -> None:
    # Every hour the load steps from 4 to 12 replicas of work for ten minutes, at :30.
    def load(t_s: float) -> float:
        return 12.0 if 1800 <= t_s % HOUR_S < 2400 else 4.0

    prof = profile(
        cold_start_s=300.0,
        replicas={"min": 1, "max": 50},
        forecast={
            "kind": "holt-winters",
            "season_s": HOUR_S,
            "history_s": 4 * HOUR_S,
            "bucket_s": 60.0,
            "fit_bucket_s": 300.0,
        },
    )
    history = [_obs(t, load(t)) for t in np.arange(-3 * HOUR_S + 60, 1, 60.0)]
    predictive = PredictivePolicy(prof, 5, history)
    dynamo = DynamoLikePolicy(prof, 5, history)
    at_s = 1620.0  # 180 s before the step: inside the 300 s cold start
    for t in np.arange(15.0, at_s + 1, 15.0):
        predictive_answer = predictive.decide(_obs(t, load(t)), t)
    for t in _polls(0.0, at_s):
        dynamo_answer = dynamo.decide(_obs(t, load(t)), t)
    step_need = replicas_for(12.0, prof.target_utilisation)  # 15
    assert predictive_answer >= step_need  # asked a cold start ahead
    assert dynamo_answer < step_need  # plans the next interval, which is still quiet
    assert dynamo_answer <= replicas_for(4.0 * 1.25, prof.target_utilisation)


def test_the_correction_raises_replicas_when_a_queue_builds() -> None:
    prof = profile(replicas={"min": 1, "max": 50})
    calm = DynamoLikePolicy(prof, 5, predictor="constant")
    queued = DynamoLikePolicy(prof, 5, predictor="constant")
    for t in _polls(0.0, INTERVAL_S):
        calm_answer = calm.decide(_obs(t, 4.0, ready=5), t)
        queued_answer = queued.decide(_obs(t, 4.0, waiting=400.0, ready=5), t)
    # 400 requests x 0.1 replica-s on 5 replicas wait 8 s; against the 2 s SLO the factor
    # is (2 + 8) / 2 = 5: 4 replicas of work plan as 20, 25 at 80 %.
    assert calm.last_correction == 1.0 and calm_answer == 5
    assert queued.last_correction == pytest.approx(5.0)
    assert queued_answer == 25


def test_bounds_and_an_idle_interval_hold() -> None:
    prof = profile(replicas={"min": 2, "max": 6})
    policy = DynamoLikePolicy(prof, 4, predictor="constant")
    for t in _polls(0.0, INTERVAL_S):
        assert policy.decide(_obs(t, 0.5), t) in (4, 2)
    assert policy.replicas == 2  # replicas.min
    for t in _polls(INTERVAL_S, 2 * INTERVAL_S):
        policy.decide(_obs(t, 40.0), t)
    assert policy.replicas == 6  # replicas.max
    for t in _polls(2 * INTERVAL_S, 3 * INTERVAL_S):
        policy.decide(_obs(t, 0.0), t)
    assert policy.replicas == 6  # no traffic: Dynamo's metrics are NaN and it skips


def test_unknown_predictor_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown predictor 'prophet'"):
        build_predictor("prophet", INTERVAL_S)  # type: ignore[arg-type]


def _replay(seed: int) -> list:
    prof = profile(cold_start_s=120.0, replicas={"min": 1, "max": 20})
    physics = FleetPhysics.from_profile(prof)
    trace = constant_trace(rps=20.0, duration_s=2 * HOUR_S)  # 2.2 replicas of work
    return simulate(trace, prof, physics, ["dynamo-like"], seed=seed, warmup_s=1800.0)


def test_a_short_replay_runs_and_is_deterministic() -> None:
    assert "dynamo-like" in POLICY_NAMES
    (run,) = _replay(seed=3)
    (again,) = _replay(seed=3)
    assert run.policy == "dynamo-like"
    np.testing.assert_array_equal(run.requested_replicas, again.requested_replicas)
    np.testing.assert_array_equal(run.ttft_s, again.ttft_s)
    # 18,000 prompt + 180 generation tok/s = 2.2 replicas of work: 3 at 80 %.
    assert set(run.requested_replicas[int(INTERVAL_S) + 1 :].tolist()) == {3}
    assert run.dropped.sum() == 0
    assert run.gpu_hours == pytest.approx(3 * 1.5, rel=0.02)
