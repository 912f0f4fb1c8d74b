"""What the engine believes the fleet is, and why missing data never shrinks it.

A restarted engine learns the replicas already serving from data, whatever it held before;
"no series" is a zero observation only for a fleet known to be at zero.
"""

from __future__ import annotations

from autoscaler.engine import ModelEngine
from autoscaler.scaler.decision_cell import DecisionCell
from tests.fakes import make_profile, observation, prompt_for_replicas

T0 = 1_700_000_000.0
STEP_S = 15.0
AT_ZERO = make_profile(replicas={"min": 0}, forecast={"kind": "last-value"})


def test_a_failed_first_read_does_not_stop_the_engine_learning_the_fleet() -> None:
    engine = ModelEngine(make_profile())  # as the registry builds it: replicas.min
    held = engine.decide(T0)  # back-fill and first read failed: nothing to decide on
    assert (held.replicas, held.valid) == (1, False)
    engine.observe(observation(T0 + STEP_S, prompt_for_replicas(16), ready=20))
    decision = engine.decide(T0 + STEP_S)
    assert decision.replicas == 20  # not "rate limit 1 -> 5": a restart never sheds a fleet


def test_a_stale_backfilled_sample_holds_its_fleet_until_fresh_data_comes() -> None:
    engine = ModelEngine(make_profile())
    engine.observe(observation(T0 - 120, prompt_for_replicas(16), ready=20))
    held = engine.decide(T0)
    assert (held.replicas, held.valid) == (20, True) and "holding" in held.reason
    engine.observe(observation(T0 + STEP_S, prompt_for_replicas(16), ready=25))
    assert engine.decide(T0 + STEP_S).replicas == 25


def test_no_series_at_zero_is_a_fresh_zero_observation_and_the_forecast_wakes_the_model() -> None:
    engine = ModelEngine(AT_ZERO)
    engine.observe(observation(T0 - 3600, prompt_for_replicas(2), ready=2))  # gone long ago
    assert engine.observe_no_series(T0)
    decision = engine.decide(T0)
    assert decision.valid and decision.data_age_s == 0
    assert decision.forecast_replicas >= 2 and decision.replicas >= 2
    cell = DecisionCell(target=None)  # type: ignore[arg-type]
    cell.publish(decision)
    assert cell.active  # IsActive: KEDA wakes the model


def test_no_series_with_replicas_is_missing_data_and_never_scales_down() -> None:
    engine = ModelEngine(AT_ZERO, initial_replicas=3)
    engine.observe(observation(T0, prompt_for_replicas(3), ready=3))
    assert engine.decide(T0).replicas == 3
    seen = []
    for k in range(1, 50):  # a scrape that lost the pods, for 735 s
        assert not engine.observe_no_series(T0 + k * STEP_S)
        seen.append(engine.decide(T0 + k * STEP_S))
    assert min(d.replicas for d in seen) >= 3
    assert all("holding" in d.reason for d in seen if d.data_age_s > 90)
    assert not seen[-1].valid  # past error_after_s KEDA's fallback takes over


def test_ready_zero_while_replicas_start_is_dropped() -> None:
    engine = ModelEngine(AT_ZERO, initial_replicas=2)  # asked for 2, none ready yet
    assert not engine.observe(observation(T0, ready=0))
    assert engine.window.latest is None


def test_a_restarted_engine_that_never_saw_the_model_cannot_call_absence_zero() -> None:
    engine = ModelEngine(AT_ZERO)  # restart, min 0, back-fill empty: zero pods or a bad scrape?
    assert not engine.observe_no_series(T0)
    decision = engine.decide(T0)
    assert not decision.valid and "no data yet" in decision.reason


def test_a_restart_right_after_data_holds_the_fleet_when_series_vanish() -> None:
    engine = ModelEngine(AT_ZERO)
    engine.observe(observation(T0 - 30, prompt_for_replicas(12), ready=20))  # back-filled
    assert not engine.observe_no_series(T0)
    decision = engine.decide(T0)
    assert decision.replicas == 20
