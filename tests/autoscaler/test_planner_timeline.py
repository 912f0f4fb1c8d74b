"""planner.decide stepped through timelines on a ManualClock, 15 s per decision."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from autoscaler.clock import ManualClock
from autoscaler.decision import Decision, PlannerState
from autoscaler.forecast.forecast import Forecast
from autoscaler.observation import Observation
from autoscaler.planner import decide
from autoscaler.profile import ModelProfile
from tests.fakes import forecast, make_profile, observation, prompt_for_replicas

STEP_S = 15.0
BUCKET_S = 60.0
# Sheds straight to the target once the delay allows, so the delay alone shapes the timeline.
DELAY_PROFILE = make_profile(scaling={"max_down_fraction": 1.0, "scale_down_delay_s": 300})


def _run(
    profile: ModelProfile,
    until_s: float,
    observed: Callable[[float], Observation | None],
    forecasts: Callable[[float], tuple[Forecast, Forecast] | None],
    start_replicas: int,
) -> dict[float, Decision]:
    clock, state = ManualClock(0.0), PlannerState(start_replicas)
    decisions = {}
    while clock.now_s() <= until_s:
        now = clock.now_s()
        pair = forecasts(now)
        prompt_fc, gen_fc = pair if pair else (None, None)
        decisions[now], state = decide(observed(now), prompt_fc, gen_fc, profile, state, now)
        clock.advance(STEP_S)
    return decisions


def _flat_demand(replicas_at: Callable[[float], int]) -> tuple[Callable, Callable]:
    """Observed load and a flat forecast of it, each worth `replicas_at(t)` replicas."""

    def observed(now: float) -> Observation:
        return observation(now, prompt_for_replicas(replicas_at(now)))

    def forecasts(now: float) -> tuple[Forecast, Forecast]:
        start = now // BUCKET_S * BUCKET_S
        return forecast(prompt_for_replicas(replicas_at(now)), start), forecast(0.0, start)

    return observed, forecasts


def _replicas(decisions: dict[float, Decision], t_from: float, t_to: float) -> set[int]:
    return {d.replicas for t, d in decisions.items() if t_from <= t <= t_to}


# (a) scale-down delay -----------------------------------------------------------------


def test_after_demand_drops_replicas_hold_for_the_delay_then_fall() -> None:
    # Last raw 10 at 585 s; it leaves the 300 s window after 885 s.
    decisions = _run(DELAY_PROFILE, 1200, *_flat_demand(lambda t: 10 if t < 600 else 2), 10)
    assert _replicas(decisions, 0, 870) == {10}
    assert _replicas(decisions, 900, 1200) == {2}
    assert "scale-down delay holds 10" in decisions[870].reason


def test_upward_recommendation_restarts_the_delay() -> None:
    # Demand drops at 600 s, jumps back for one decision at 750 s, then stays low.
    def demand(t: float) -> int:
        return 10 if t < 600 or t == 750 else 2

    decisions = _run(DELAY_PROFILE, 1500, *_flat_demand(demand), 10)
    assert _replicas(decisions, 0, 1035) == {10}  # without the 750 s blip: down at 900 s
    assert _replicas(decisions, 1065, 1500) == {2}


def test_smaller_upward_recommendation_holds_its_own_level_for_the_delay() -> None:
    def demand(t: float) -> int:
        return 6 if t == 750 else (10 if t < 600 else 2)

    decisions = _run(DELAY_PROFILE, 1500, *_flat_demand(demand), 10)
    assert _replicas(decisions, 0, 870) == {10}
    assert _replicas(decisions, 900, 1035) == {6}
    assert _replicas(decisions, 1065, 1500) == {2}


def test_default_down_rate_sheds_a_quarter_per_decision_after_the_delay() -> None:
    profile = make_profile()  # max_down_fraction 0.25
    decisions = _run(profile, 1200, *_flat_demand(lambda t: 10 if t < 600 else 2), 10)
    first_drop = min(t for t, d in decisions.items() if d.replicas < 10)
    assert first_drop in (705, 720)  # the last raw 10 was at 585 s, held 120 s
    # 10 -> 7 (ceil 2.5) -> 5 (ceil 1.75) -> 3 (ceil 1.25) -> 2.
    sheds = [decisions[first_drop + k * STEP_S].replicas for k in range(5)]
    assert sheds == [7, 5, 3, 2, 2]


# (b) forecasts look one cold start + one interval ahead ------------------------------

PEAK_S = 1200.0  # the forecast says 5 replicas of demand from here on; 1 before


def _peak_forecasts(now: float) -> tuple[Forecast, Forecast]:
    start = now // BUCKET_S * BUCKET_S
    means = [prompt_for_replicas(5 if start + k * BUCKET_S >= PEAK_S else 1) for k in range(8)]
    return forecast(means, start), forecast(0.0, start)


def test_forecast_peak_scales_up_a_cold_start_before_the_demand() -> None:
    profile = make_profile()  # cold start 300 s + interval 15 s: a 315 s horizon

    def low(now: float) -> Observation:
        return observation(now, prompt_for_replicas(1))

    decisions = _run(profile, PEAK_S, low, _peak_forecasts, 1)
    # The 1,200 s bucket starts before now + 315 s from now = 900 s on.
    assert _replicas(decisions, 0, 885) == {1}  # peaks 315 s or more ahead are ignored
    assert decisions[900].replicas == 5  # asked at 900 s, serving by 1,200 s
    assert (decisions[900].forecast_replicas, decisions[900].reactive_replicas) == (5, 1)
    assert decisions[900].reason.startswith("forecast p95 peak")
    assert _replicas(decisions, 900, PEAK_S) == {5}


@pytest.mark.parametrize(
    ("peak_step", "expected_forecast"),
    [(5, 50), (6, 1)],
    ids=["peak-300s-ahead-inside", "peak-360s-ahead-outside"],
)
def test_only_peaks_within_the_horizon_count(peak_step: int, expected_forecast: int) -> None:
    now = 600.0
    means = [prompt_for_replicas(50 if k == peak_step else 1) for k in range(8)]
    decision, _ = decide(
        observation(now, prompt_for_replicas(1)),
        forecast(means, now),
        forecast(0.0, now),
        make_profile(),
        PlannerState(1),
        now,
    )
    assert decision.forecast_replicas == expected_forecast
    assert decision.replicas == min(expected_forecast, 5)  # up limit from 1: max(4, 1 + 4)


# (c) reactive floor and KV pressure ------------------------------------------------------


def _decide_now(obs: Observation, prompt_fc: float, gen_fc: float, replicas: int) -> Decision:
    now = obs.t_s
    decision, _ = decide(
        obs,
        forecast(prompt_fc, now),
        forecast(gen_fc, now),
        make_profile(),
        PlannerState(replicas),
        now,
    )
    return decision


def _parts(decision: Decision) -> tuple[int, int, int]:
    return decision.replicas, decision.reactive_replicas, decision.forecast_replicas


def _queue_decision(waiting_before: float, waiting: float, **profile: object) -> Decision:
    """6.0 replicas of load served at 30 req/s (0.2 replica-s per request) on 8 replicas,
    under a flat forecast of the served rates, which alone says ceil(6.0 / 0.8) = 8."""
    before = observation(-15.0, 40_000, 2_500, waiting=waiting_before, ready=8, requests_per_s=30)
    obs = observation(0.0, 40_000, 2_500, waiting=waiting, ready=8, requests_per_s=30)
    decision, _ = decide(
        obs,
        forecast(40_000, 0.0),
        forecast(2_500, 0.0),
        make_profile(**profile),
        PlannerState(8),
        0.0,
        previous=before,
    )
    return decision


def test_queue_raises_replicas_above_a_flat_forecast_worked_number() -> None:
    # The queue grew from 300 to 600 in 15 s: 20 requests/s beyond what is served, +4.0.
    # The replicas asked for now find the 600 waiting (120 replica-s) plus 300 s more of that
    # growth (1,200): 1,320 replica-s over the default 120 s drain (0.4 x the 300 s cold
    # start), +11.0 -> 21.0 / 0.8 = 27.
    decision = _queue_decision(300, 600)
    assert _parts(decision) == (27, 27, 8)
    assert decision.reason.startswith("reactive: served 6.00 + queued 15.00")


@pytest.mark.parametrize(
    ("waiting_before", "waiting", "profile", "expected"),
    [
        # No growth: only the 600 waiting, 120 replica-s over 120 s, +1.0 -> 7.0 / 0.8 = 9.
        pytest.param(600, 600, {}, 9, id="steady-queue-only-the-backlog"),
        # A shrinking queue is not growth: the same 9.
        pytest.param(900, 600, {}, 9, id="draining-queue-adds-nothing"),
        # A burst's first decision: the queue grew from 0 to 300 in 15 s, 4.0 replicas beyond
        # what is served; 60 replica-s wait now, 60 + 4.0 x 300 = 1,260 when new replicas
        # serve, over 120 s: +10.5 -> 20.5 / 0.8 = 26. Sizing for the 300 waiting now said 13.
        pytest.param(0, 300, {}, 26, id="burst-start-sizes-the-backlog-found-on-arrival"),
        # A 60 s cold start (and so a 24 s drain): 60 + 4.0 x 60 = 300 over 24 s, +12.5 -> 29.
        pytest.param(0, 300, {"cold_start_s": 60}, 29, id="short-cold-start"),
        # The cold start's whole 300 s, the default before: 1,260 / 300 = 4.2 -> 18.
        pytest.param(0, 300, {"queue_drain_s": 300}, 18, id="drain-over-the-cold-start"),
        # A 600 s drain window: 1,260 / 600 = 2.1 -> 12.1 / 0.8 = 16.
        pytest.param(0, 300, {"queue_drain_s": 600}, 16, id="longer-drain-window"),
    ],
)
def test_reactive_floor_clears_the_backlog_new_replicas_will_find(
    waiting_before: float, waiting: float, profile: dict[str, object], expected: int
) -> None:
    decision = _queue_decision(waiting_before, waiting, **profile)
    assert decision.reactive_replicas == expected


def test_without_a_queue_the_same_load_needs_only_the_forecast() -> None:
    obs = observation(0.0, 40_000, 2_500, ready=8, requests_per_s=30)
    decision = _decide_now(obs, 40_000, 2_500, replicas=8)
    assert _parts(decision) == (8, 8, 8)


def test_kv_pressure_raises_replicas() -> None:
    # Little token work (1 replica) but KV 95 % full on 4 replicas: 3.8 / 0.85 -> 5.
    obs = observation(0.0, prompt_for_replicas(1), kv=0.95, ready=4)
    decision = _decide_now(obs, prompt_for_replicas(1), 0.0, replicas=4)
    assert _parts(decision) == (5, 5, 1)


def test_forecast_kv_binds_worked_number() -> None:
    # Capacity docstring: 300,000 KV tokens in use (75 % of one replica) at 1,000 gen tok/s is
    # 300 s; a 2,000 gen tok/s forecast needs 600,000 tokens = 1.5 replicas / 0.85 -> 2, while
    # its token work is 2,000 / 2,500 = 0.8 / 0.8 -> 1.
    obs = observation(0.0, 0.0, 1_000, kv=0.75, ready=1)
    decision = _decide_now(obs, 0.0, 2_000, replicas=1)
    assert _parts(decision) == (2, 1, 2)
    assert "KV cache binds" in decision.reason


def test_waiting_requests_with_nothing_ready_scale_from_zero() -> None:
    profile = make_profile(replicas={"min": 0})
    obs = observation(0.0, waiting=3, ready=0)
    decision, _ = decide(obs, forecast(0.0, 0.0), forecast(0.0, 0.0), profile, PlannerState(0), 0)
    assert decision.replicas == 1 and decision.reactive_replicas == 1


# (d) missing and stale data ----------------------------------------------------------------

EAGER = make_profile(scaling={"scale_down_delay_s": 0, "max_down_fraction": 1.0})


@pytest.mark.parametrize(
    ("age_s", "expected", "valid"),
    [(90, 2, True), (91, 10, True), (600, 10, True), (601, 10, False)],
    ids=["fresh-scales-down", "stale-holds", "still-valid", "too-old-invalid"],
)
def test_stale_data_holds_and_never_scales_down(age_s: float, expected: int, valid: bool) -> None:
    # Demand fell to 2 replicas' worth; the fleet has 10. Hold after 90 s, invalid after 600 s.
    obs = observation(1000.0, prompt_for_replicas(2))
    now = 1000.0 + age_s
    state = PlannerState(10, ((now - 1, 10),))
    flat = forecast(prompt_for_replicas(2), now)
    decision, new_state = decide(obs, flat, forecast(0.0, now), EAGER, state, now)
    assert (decision.replicas, decision.valid) == (expected, valid)
    if expected == 10:
        assert new_state is state  # a hold leaves the planner's memory alone
        assert f"newest data is {age_s} s old" in decision.reason
        assert decision.data_age_s == age_s
        assert ("invalid after 600 s" in decision.reason) is not valid


def test_stale_data_does_not_scale_up_either() -> None:
    obs = observation(0.0, 40_000, waiting=10_000, kv=1.0, ready=2, requests_per_s=5)
    decision, _ = decide(obs, None, None, EAGER, PlannerState(2), 120.0)
    assert decision.replicas == 2 and decision.reason.startswith("holding 2")


def test_silence_on_a_timeline_holds_then_turns_invalid() -> None:
    last = observation(300.0, prompt_for_replicas(10))

    def observed(now: float) -> Observation:
        return observation(now, prompt_for_replicas(10)) if now <= 300 else last

    def falling_forecast(now: float) -> tuple[Forecast, Forecast]:
        return forecast(prompt_for_replicas(2), now), forecast(0.0, now)

    decisions = _run(EAGER, 1200, observed, falling_forecast, 10)
    assert _replicas(decisions, 0, 1200) == {10}
    assert all(d.valid for t, d in decisions.items() if t <= 900)  # age <= 600 s
    assert not any(d.valid for t, d in decisions.items() if t > 900)
    assert all(d.reason.startswith("holding 10") for t, d in decisions.items() if t > 390)


def test_no_data_yet_is_invalid_and_keeps_the_state() -> None:
    state = PlannerState(3)
    decision, new_state = decide(None, None, None, make_profile(), state, 0.0)
    assert (decision.replicas, decision.valid, new_state) == (3, False, state)
    assert "no data" in decision.reason
