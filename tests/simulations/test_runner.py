"""The runner around the fleet: warm-up history, the drain after the last arrival, and the
baselines' demand smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from autoscaler.capacity import replicas_for
from simulations import runner
from simulations.fleet.offered_load import OfferedLoad
from simulations.fleet.physics import FleetPhysics
from simulations.policies.baselines import OraclePolicy, StaticPolicy
from simulations.policies.predictive import PredictivePolicy
from simulations.report.summary import policy_summary
from simulations.runner import simulate
from simulations.traces.request_trace import RequestTrace
from simulations.warmup import backfill_history, default_warmup_s, split_warmup
from tests.simulations.fleet_helpers import constant_trace, profile


def _physics(**overrides: float) -> FleetPhysics:
    return FleetPhysics.from_profile(profile(), cold_start_jitter=0.0, **overrides)


# --- warm-up -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration_s", "warmup_s"),
    [(7 * 86400, 86400), (2 * 86400, 43200), (7200, 1800)],
    ids=["week", "demo", "two-hours"],
)
def test_default_warmup_is_a_day_at_most_a_quarter(duration_s: float, warmup_s: float) -> None:
    assert default_warmup_s(duration_s) == warmup_s


def test_split_keeps_the_leading_slice_and_shifts_the_rest_to_zero() -> None:
    trace = constant_trace(rps=2.0, duration_s=100)  # arrivals 0, 0.5, ..., 99.5
    history, replayed = split_warmup(trace, 30.0)
    assert history.n_requests == 60 and history.arrival_s[-1] == 29.5
    assert replayed.n_requests == 140
    assert replayed.arrival_s[0] == 0.0 and replayed.arrival_s[-1] == 69.5


@pytest.mark.parametrize(
    ("warmup_s", "words"),
    [(-1.0, ">= 0"), (99.5, "leaves nothing to replay"), (500.0, "leaves nothing to replay")],
    ids=["negative", "up-to-last-arrival", "longer-than-trace"],
)
def test_a_warmup_that_leaves_nothing_to_replay_is_refused(warmup_s: float, words: str) -> None:
    trace = constant_trace(rps=2.0, duration_s=100)
    with pytest.raises(ValueError, match=words):
        simulate(trace, profile(), _physics(), ["static"], warmup_s=warmup_s)


def test_backfill_gives_what_prometheus_would_hold_one_point_per_bucket() -> None:
    # 2 req/s x 900 prompt tokens = 1,800 prompt tok/s for the whole hour of warm-up.
    trace = constant_trace(rps=2.0, duration_s=7200)
    history, _ = split_warmup(trace, 3600.0)
    prof = profile()
    observations = backfill_history(history, _physics(), prof, 3600.0)
    bucket_s = prof.forecast.bucket_s
    assert len(observations) == 3600 / bucket_s
    assert observations[0].t_s == -3600.0 + bucket_s and observations[-1].t_s == 0.0
    assert all(o.prompt_tokens_per_s == pytest.approx(1800.0) for o in observations)
    assert all(o.ready_replicas >= 1 for o in observations)  # else the engine would drop them


def test_the_engine_starts_with_the_warmup_as_its_history(monkeypatch) -> None:
    """What production's registry back-fills: the replay's first decision already sees an
    hour of complete buckets, at the trace's rate."""
    windows = []

    class Spy(PredictivePolicy):
        def decide(self, obs, now_s):  # type: ignore[no-untyped-def]
            if not windows:
                windows.append(self.engine.window.complete(now_s)[0])
            return super().decide(obs, now_s)

    monkeypatch.setattr(runner, "PredictivePolicy", Spy)
    trace = constant_trace(rps=2.0, duration_s=7200)
    simulate(trace, profile(), _physics(), ["predictive"], warmup_s=3600.0)
    prompt = windows[0][0]
    # Minutes -59 .. -1 (the point at -3,600 s would need rates from before the trace).
    assert prompt.size == 59
    np.testing.assert_allclose(prompt, 1800.0)


def test_every_policy_is_scored_on_the_same_window_after_the_warmup() -> None:
    trace = constant_trace(rps=2.0, duration_s=600)
    runs = simulate(
        trace, profile(), _physics(), ["predictive", "static", "oracle"], warmup_s=200.0
    )
    for run in runs:
        assert run.ttft_s.size == 800  # arrivals at 200 s and later
        assert run.t_s.size == 400  # ticks 0 .. 399.5 of the replayed part
    without = simulate(trace, profile(), _physics(), ["static"])
    assert without[0].ttft_s.size == 1200


# --- the drain after the last arrival ------------------------------------------------------


def _burst_at_the_end() -> RequestTrace:
    """10 requests spread over 10 s, then 10 x 2,000-token requests at t = 10 s."""
    arrival = np.concatenate([np.linspace(0, 9, 10), np.full(10, 10.0)])
    return RequestTrace("tail", arrival, np.full(20, 2000, np.int32), np.full(20, 10, np.int32))


@pytest.mark.parametrize("policy", ["static", "oracle"])
def test_requests_queued_at_the_end_are_served_not_dropped(policy: str) -> None:
    # 11 x 0.23 replica-seconds at t = 10 s on one replica: served within ~3 s.
    runs = simulate(_burst_at_the_end(), profile(), _physics(), [policy])
    run = runs[0]
    assert not run.dropped.any()
    assert run.ttft_s.max() < 5.0


def test_no_policy_is_asked_during_the_drain() -> None:
    """The fleet the trace ended with serves the backlog: the reactive policy would scale up
    on the queue at its next poll (t = 15 s), after the last arrival."""
    arrival = np.concatenate([np.linspace(0, 9, 10), np.full(200, 10.0)])
    n = arrival.size
    trace = RequestTrace("tail", arrival, np.full(n, 2000, np.int32), np.full(n, 10, np.int32))
    run = simulate(trace, profile(), _physics(), ["reactive"])[0]
    assert run.replica_changes == 0
    assert not run.dropped.any()  # ~46 replica-seconds of backlog, within the drain


def test_gpu_hours_cover_the_arrivals_not_the_drain() -> None:
    run = simulate(_burst_at_the_end(), profile(), _physics(), ["static"])[0]
    # One replica for ticks 0..10; the 120 s drain serves the backlog but is not billed.
    assert run.requested_replicas.tolist() == [1] * 11
    assert run.gpu_hours == pytest.approx(11 / 3600)
    assert policy_summary(run)["mean_replicas"] == 1.0


# --- the baselines' smoothing -----------------------------------------------------------------


def _offered(rps: float, duration_s: float) -> OfferedLoad:
    return OfferedLoad.from_trace(constant_trace(rps=rps, duration_s=duration_s), _physics())


@pytest.mark.parametrize("duration_s", [20, 400], ids=["shorter-than-window", "longer"])
def test_static_is_sized_for_the_whole_demand_of_a_short_trace(duration_s: float) -> None:
    offered = _offered(rps=50.0, duration_s=duration_s)  # 50 x 0.11 = 5.5 replicas at SLO cap
    need = replicas_for(float(offered.slo_demand_replicas[:-1].mean()), 0.8)
    assert StaticPolicy.for_peak(offered, profile()).replicas == need


def test_oracle_does_not_halve_demand_at_the_end_of_the_trace() -> None:
    offered = _offered(rps=50.0, duration_s=400)
    oracle = OraclePolicy(offered, profile(), cold_start_s=100.0)
    steady = replicas_for(float(offered.slo_demand_replicas[:-1].mean()), 0.8)
    assert oracle.decide(None, 390.0) == steady  # type: ignore[arg-type]
