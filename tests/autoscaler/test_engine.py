"""ModelEngine end to end: observations in, stabilised decisions out, on a ManualClock."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import autoscaler.engine as engine_module
from autoscaler.clock import ManualClock
from autoscaler.decision import Decision
from autoscaler.engine import ModelEngine
from autoscaler.forecast.conformal import ConformalUpper
from autoscaler.observation import Observation
from tests.fakes import (
    FailFn,
    ScriptedForecaster,
    fails_from_call,
    make_profile,
    observation,
    prompt_for_replicas,
)

STEP_S = 15.0
# 20,000 / 8,000 + 1,000 / 2,500 = 2.9 replicas of work -> ceil(2.9 / 0.8) = ceil(3.625) = 4.
PROMPT, GENERATION, NEEDED = 20_000.0, 1_000.0, 4


def _steady(now: float) -> Observation:
    # KV holds 25 % of 4 replicas' budgets: one replica's worth, never the binding resource.
    return observation(now, PROMPT, GENERATION, kv=0.25, ready=NEEDED, requests_per_s=10)


def _drive(engine: ModelEngine, clock: ManualClock, until_s: float) -> dict[float, Decision]:
    decisions = {}
    while clock.now_s() <= until_s:
        now = clock.now_s()
        assert engine.observe(_steady(now))
        decisions[now] = engine.decide(now)
        clock.advance(STEP_S)
    return decisions


def test_steady_load_settles_on_load_over_target() -> None:
    profile = make_profile()
    assert math.ceil((PROMPT / 8000 + GENERATION / 2500) / profile.target_utilisation) == NEEDED
    engine = ModelEngine(profile)
    decisions = _drive(engine, ManualClock(0.0), 105 * 60)

    replicas = [d.replicas for d in decisions.values()]
    assert replicas[0] == NEEDED  # the reactive floor at once; from 1 the up limit allows 5
    assert min(replicas) >= NEEDED  # the floor never lets it under the load
    for before, after in zip(replicas, replicas[1:], strict=False):
        assert after <= max(math.ceil(before * 4.0), before + 4)
        assert after >= before - math.ceil(before * 0.25)
    # Holt-Winters takes over from the last value after an hour (12 five-minute buckets) and
    # is calibrated on its own errors; once it has a record (30+ scored buckets of zero
    # error, ~36 min) the margin is gone, and the scale-down delay (5 min) has run.
    last = decisions[105 * 60]
    assert (last.replicas, last.forecast_replicas, last.reactive_replicas) == (NEEDED,) * 3
    assert last.valid and engine.last_decision is last


def test_scale_from_zero_on_waiting_requests() -> None:
    engine = ModelEngine(make_profile(replicas={"min": 0}), initial_replicas=0)
    clock = ManualClock(0.0)
    while clock.now_s() <= 600:
        engine.observe(observation(clock.now_s(), ready=0))
        assert engine.decide(clock.now_s()).replicas == 0  # idle and nothing asked
        clock.advance(STEP_S)
    engine.observe(observation(clock.now_s(), waiting=3, ready=0))
    assert engine.decide(clock.now_s()).replicas >= 1


def test_no_observation_yet_is_invalid() -> None:
    engine = ModelEngine(make_profile(), initial_replicas=3)
    decision = engine.decide(0.0)
    assert (decision.replicas, decision.valid) == (3, False)


def test_out_of_order_observation_is_refused() -> None:
    engine = ModelEngine(make_profile())
    assert engine.observe(_steady(100.0))
    assert not engine.observe(_steady(50.0))
    assert engine.window.rejected_out_of_order == 1


def _scripted_engine(
    monkeypatch: pytest.MonkeyPatch, fail: FailFn | None = None, scale: float = 1.0
) -> tuple[ModelEngine, list[ScriptedForecaster]]:
    """An engine whose (prompt, generation) forecasters answer `scale` x the steady load."""
    made: list[ScriptedForecaster] = []

    def build(settings: Any) -> ConformalUpper:
        scripted = ScriptedForecaster(scale * (PROMPT if not made else GENERATION), fail=fail)
        made.append(scripted)
        return ConformalUpper(
            scripted,
            quantile=settings.quantile,
            bucket_s=settings.bucket_s,
            error_window_s=settings.error_window_s,
        )

    monkeypatch.setattr(engine_module, "build_with_upper", build)
    return ModelEngine(make_profile(), initial_replicas=NEEDED), made


def test_forecasts_are_made_once_per_completed_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, made = _scripted_engine(monkeypatch)
    _drive(engine, ManualClock(0.0), 5 * 60 - STEP_S)  # 20 decisions over five minutes
    # Buckets complete at 60, 120, 180, 240 s: four forecasts per series, not twenty.
    for scripted in made:
        assert [end_s for end_s, _, _ in scripted.calls] == [60.0, 120.0, 180.0, 240.0]
        assert all(steps == math.ceil(315 / 60) + 1 for _, _, steps in scripted.calls)


def test_failing_forecaster_falls_back_to_the_last_value_above_the_reactive_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The forecasters answer twice the steady load, then fail from the 4th bucket (240 s):
    the decision must leave their last answer and rest on the held last observation. Until
    errors calibrate it the upper is 10 % x sqrt(step) over the mean, 1.245 x at step 6."""
    fail = fails_from_call(6, RuntimeError("fit failed"))  # 3 buckets x 2 series succeed
    engine, made = _scripted_engine(monkeypatch, fail=fail, scale=2.0)
    decisions = _drive(engine, ManualClock(0.0), 10 * 60)
    assert all(d.replicas >= d.reactive_replicas == NEEDED for d in decisions.values())
    # Working: 2 x 2.9 replicas of load x 1.245 at the peak utilisation of 85 % = 8.50 -> 9
    # (the mean peak, 5.8 / 0.8 = 7.25, needs fewer), above the floor of 4.
    working = [decisions[t] for t in (60.0, 120.0, 180.0, 225.0)]
    assert all((d.forecast_replicas, d.replicas) == (9, 9) for d in working)
    assert all("failed" not in d.reason for d in working)
    # Failed: each series holds its last value, 2.9 x 1.245 / 0.85 = 4.25 -> 5, and says so.
    assert all(len(m.calls) == 10 for m in made)  # still asked every bucket, failing
    assert engine.last_forecasts is not None
    prompt, generation = engine.last_forecasts
    assert (prompt.method, generation.method) == ("last-value", "last-value")
    np.testing.assert_array_equal(prompt.mean, PROMPT)
    np.testing.assert_array_equal(generation.mean, GENERATION)
    failed = [d for t, d in decisions.items() if t >= 240.0]
    assert all(d.forecast_replicas == 5 for d in failed)
    assert all("forecaster failed (RuntimeError: fit failed)" in d.reason for d in failed)
    # The scale-down delay holds the last 9 (225 s) for 120 s; then down by at most
    # ceil(25 %) a step: 9 -> 6 -> 5.
    assert [decisions[t].replicas for t in (330.0, 345.0, 360.0, 600.0)] == [9, 6, 5, 5]


def test_a_restarted_engine_starts_from_the_replicas_already_serving() -> None:
    """After a restart Prewarm must not answer `min` to KEDA while 20 replicas serve: the
    first decision starts from the ready count and the scale-down delay holds it."""

    profile = make_profile()
    engine = ModelEngine(profile)
    engine.observe(observation(t_s=0.0, prompt=prompt_for_replicas(12), ready=20))
    first = engine.decide(0.0)
    assert first.replicas == 20
    engine.observe(observation(t_s=15.0, prompt=prompt_for_replicas(12), ready=20))
    assert engine.decide(15.0).replicas == 20  # inside the delay: still 20


def test_a_reload_with_a_longer_cold_start_forecasts_that_far_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The forecasts cached for this bucket end at the old horizon; reused after a reload
    raising the cold start, they hid demand between the old and the new horizon."""
    engine, made = _scripted_engine(monkeypatch)
    _drive(engine, ManualClock(0.0), 5 * 60)
    engine.reconfigure(make_profile(cold_start_s=900.0), 5 * 60 + 5.0)
    engine.decide(5 * 60 + STEP_S)  # the same bucket as the last forecast
    # (900 + 15) / 60 -> 16 steps, plus one: the forecaster is asked again, that far.
    assert made[0].calls[-1] == (300.0, 5, math.ceil(915 / 60) + 1)
    assert engine.last_forecasts is not None and engine.last_forecasts[0].steps == 17


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [({"min": 6, "max": 64}, 6), ({"min": 1, "max": 1}, 1)],
    ids=["min-raised", "max-lowered"],
)
def test_a_reload_moves_a_held_answer_inside_the_new_bounds(
    bounds: dict[str, int], expected: int
) -> None:
    """While data is stale the engine holds; an operator's new bounds must still apply at
    the next decision, as they would for a fresh engine loaded with that profile."""
    engine = ModelEngine(make_profile(), initial_replicas=2)
    engine.observe(observation(0.0, prompt_for_replicas(2), ready=2))
    assert engine.decide(0.0).replicas == 2
    engine.reconfigure(make_profile(replicas=bounds), 100.0)
    held = engine.decide(200.0)  # data 200 s old: a hold
    assert held.reason.startswith(f"holding {expected}:")
    assert held.replicas == expected


def test_a_reload_before_any_data_holds_the_new_minimum() -> None:
    engine = ModelEngine(make_profile())  # holds replicas.min = 1 until data arrives
    engine.reconfigure(make_profile(replicas={"min": 6, "max": 64}), 0.0)
    assert engine.decide(0.0).replicas == 6 == ModelEngine(engine.profile).decide(0.0).replicas


def test_the_history_learns_what_arrived_and_the_planner_reads_the_queues_growth() -> None:
    # 40,000 + 2,500 tok/s is 6.0 replicas served at 30 req/s (0.2 replica-s a request).
    # Draining 150 requests in 15 s served 2.0 replicas of earlier arrivals: the bucket
    # learns 4/6 of the served rates; `latest` stays as observed.
    engine = ModelEngine(make_profile(), initial_replicas=8)
    for t_s, waiting in ((0.0, 600.0), (15.0, 450.0), (30.0, 300.0), (45.0, 150.0)):
        obs = observation(t_s, 40_000, 2_500, waiting=waiting, ready=8, requests_per_s=30)
        assert engine.observe(obs)
    values, _ = engine.window.complete(60.0)
    # The first sample has nothing to compare with; the other three drain 2.0 of 6.0:
    # the bucket's mean is (1 + 3 x 4/6) / 4 = 0.75 of the served rates.
    np.testing.assert_allclose(values[:, 0], [40_000 * 0.75, 2_500 * 0.75])
    assert engine.window.latest is not None and engine.window.latest.prompt_tokens_per_s == 40_000
    # The queue grows 150 -> 600 in 15 s: 30 req/s, 6.0 replicas beyond the 6.0 served; the
    # 600 waiting (120 replica-s) and 300 s of that growth (1,800) over the 120 s drain (0.4
    # of the 300 s cold start) add 16.0.
    engine.observe(observation(60.0, 40_000, 2_500, waiting=600, ready=8, requests_per_s=30))
    decision = engine.decide(60.0)
    assert "served 6.00 + queued 22.00" in decision.reason
