"""The look-ahead over the cold start is what Prewarm is for: removing it must cost SLO.

Scenario (seeded, ~5 h, a couple of seconds): every hour the request rate holds 4 req/s
for 30 minutes, ramps to 36 req/s in 5 minutes, holds 15 minutes and eases back over 10.
The ramp is ninefold, far faster than a fleet can follow within a 300 s cold start, and
entirely predictable: the first 3 hours are back-filled into the engine's history (a
one-hour season, as a daily cycle would be on a week), and the last 2 are replayed and
scored. Same trace, same fleet (300 s cold start), same seeds; only the look-ahead differs:

- full: the bundled profile with that season; a decision looks cold start + one interval
  (315 s) ahead, so the replicas for the ramp are asked for before it arrives;
- blind, two ways that must agree:
  - `no-cold-start`: the profile tells the engine replicas start at once (cold_start_s: 0),
    so its horizon is one decision interval, as NVIDIA Dynamo's planner predicts the next
    interval only. Nothing but the profile changes; the fleet still takes 300 s;
  - `one-interval-horizon`: `ModelProfile.horizon_s` patched to one decision interval while
    the cold start stays 300 s everywhere else: exactly the forecast horizon removed.

What any correct predictive plan keeps here (not today's numbers): it meets the SLO through
the ramps, it asks for the plateau's replicas before the ramp starts, so most of them serve
when the ramp tops out, and the blind engine, which asks only once the ramp is under way,
does not, and misses the SLO markedly more often, around the ramps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from autoscaler.profile import BUNDLED_PROFILE, ModelProfile, load_profile, parse_profile
from simulations.fleet.physics import FleetPhysics
from simulations.report.summary import slo_met
from simulations.run_result import PolicyRun
from simulations.runner import simulate
from simulations.traces.rate_series import RateSeries, synthesise_arrivals
from simulations.traces.request_trace import RequestTrace
from simulations.warmup import split_warmup

PERIOD_S = 3600
WARMUP_HOURS, REPLAY_HOURS = 3, 2
BASE_RPS, HIGH_RPS = 4.0, 36.0
RAMP_START_MIN, RAMP_MIN, PLATEAU_END_MIN = 30, 5, 50
SEED = 5
ASKED_BEFORE_S = 150  # half a cold start before a ramp


def _hourly_ramp_trace() -> RequestTrace:
    minute = np.arange(60)
    shape = np.full(60, BASE_RPS)
    up = (minute >= RAMP_START_MIN) & (minute < RAMP_START_MIN + RAMP_MIN)
    shape[up] = BASE_RPS + (HIGH_RPS - BASE_RPS) * (minute[up] - RAMP_START_MIN + 1) / RAMP_MIN
    shape[(minute >= RAMP_START_MIN + RAMP_MIN) & (minute < PLATEAU_END_MIN)] = HIGH_RPS
    down = minute >= PLATEAU_END_MIN
    shape[down] = HIGH_RPS - (HIGH_RPS - BASE_RPS) * (minute[down] - PLATEAU_END_MIN + 1) / 10
    rate = np.tile(shape, WARMUP_HOURS + REPLAY_HOURS)
    series = RateSeries(t_s=np.arange(rate.size) * 60.0, rate_rps=rate, name="hourly-ramp")
    return synthesise_arrivals(series, seed=SEED)


def _profile_data() -> dict[str, Any]:
    data = load_profile(BUNDLED_PROFILE).model_dump()
    data["forecast"] = {
        "kind": "holt-winters",
        "season_s": PERIOD_S,
        "history_s": WARMUP_HOURS * PERIOD_S,
    }
    return data


def _replay(profile: ModelProfile, physics: FleetPhysics) -> PolicyRun:
    (run,) = simulate(
        _hourly_ramp_trace(),
        profile,
        physics,
        ["predictive"],
        seed=SEED,
        warmup_s=WARMUP_HOURS * PERIOD_S,
    )
    return run


@pytest.fixture(scope="module")
def full() -> PolicyRun:
    profile = parse_profile(_profile_data())
    assert profile.horizon_s == profile.cold_start_s + profile.decision_interval_s == 315
    return _replay(profile, FleetPhysics.from_profile(profile))


@pytest.fixture(scope="module", params=["no-cold-start", "one-interval-horizon"])
def blind(request: pytest.FixtureRequest) -> PolicyRun:
    data = _profile_data()
    physics = FleetPhysics.from_profile(parse_profile(data))  # the fleet still takes 300 s
    assert physics.cold_start_s == 300
    if request.param == "no-cold-start":
        profile = parse_profile({**data, "cold_start_s": 0})
        assert profile.horizon_s == profile.decision_interval_s
        return _replay(profile, physics)
    with pytest.MonkeyPatch.context() as patch:  # undone before any other test runs
        patch.setattr(ModelProfile, "horizon_s", property(lambda p: p.decision_interval_s))
        profile = parse_profile(data)
        assert profile.cold_start_s == 300 and profile.horizon_s == 15
        return _replay(profile, physics)


def _ramp_starts_s() -> list[int]:
    """Replay time of each replayed ramp's first second."""
    return [hour * PERIOD_S + RAMP_START_MIN * 60 for hour in range(REPLAY_HOURS)]


def _plateau_need(run: PolicyRun, ramp_start_s: int) -> float:
    """Replicas of SLO capacity the plateau after this ramp needs (its mean offered load)."""
    lo = ramp_start_s + RAMP_MIN * 60
    hi = ramp_start_s + (PLATEAU_END_MIN - RAMP_START_MIN) * 60
    return float(run.demand_replicas[lo:hi].mean())


def test_the_scenario_ramps_faster_than_a_cold_start_allows(full: PolicyRun) -> None:
    """Guard for the guard: the plateau needs several times the fleet that serves the base,
    so no fleet sized on what it sees can grow into it within one cold start."""
    for start_s in _ramp_starts_s():
        before = float(full.demand_replicas[start_s - 600 : start_s].mean())
        assert _plateau_need(full, start_s) > 6 * before


def test_predictive_meets_the_slo_through_predictable_ramps(full: PolicyRun) -> None:
    assert slo_met(full).mean() >= 0.98
    assert not full.dropped.any()


def test_predictive_asks_for_the_ramp_before_it_starts(full: PolicyRun) -> None:
    """Half a cold start before each ramp, with demand still at its base, the plan has
    already asked for at least half of what the plateau needs."""
    for start_s in _ramp_starts_s():
        asked = full.requested_replicas[start_s - ASKED_BEFORE_S]
        assert asked >= 0.5 * _plateau_need(full, start_s), start_s


def test_without_the_look_ahead_nothing_is_asked_before_the_ramp(blind: PolicyRun) -> None:
    """The same yardstick fails without the look-ahead: the engine asks only once the ramp
    is in sight, a cold start too late. (Forecasts are bucketed by the minute, so an engine
    looking one interval ahead still sees the next bucket or two: ASKED_BEFORE_S is past
    that.)"""
    for start_s in _ramp_starts_s():
        asked = blind.requested_replicas[start_s - ASKED_BEFORE_S]
        assert asked < 0.5 * _plateau_need(blind, start_s), start_s


def test_predictive_has_the_plateau_mostly_ready_when_the_ramp_tops_out(full: PolicyRun) -> None:
    """A replica serving when the ramp tops out (RAMP_MIN after it began) was asked for
    before it began; 80 % of the plateau's need leaves room for cold-start jitter (+-30 s)."""
    for start_s in _ramp_starts_s():
        top_s = start_s + RAMP_MIN * 60
        assert full.ready_replicas[top_s] >= 0.8 * _plateau_need(full, start_s), start_s


def test_the_look_ahead_buys_markedly_better_slo(full: PolicyRun, blind: PolicyRun) -> None:
    """Same trace, fleet and seeds: only the horizon differs. At least 10 points of SLO
    attainment, lost where a look-ahead matters: nearly all of the blind engine's misses
    arrive within a cold start and a ramp of a ramp's start."""
    full_slo, blind_slo = float(slo_met(full).mean()), float(slo_met(blind).mean())
    assert blind_slo <= full_slo - 0.10, (full_slo, blind_slo)
    arrival_s = split_warmup(_hourly_ramp_trace(), WARMUP_HOURS * PERIOD_S)[1].arrival_s
    assert arrival_s.size == blind.ttft_s.size
    missed = arrival_s[~slo_met(blind)]
    near_a_ramp = np.zeros(missed.size, dtype=bool)
    for start_s in _ramp_starts_s():
        near_a_ramp |= (missed >= start_s) & (missed < start_s + 300 + RAMP_MIN * 60 + 300)
    assert near_a_ramp.mean() >= 0.9
