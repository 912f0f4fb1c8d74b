"""EmulatedFleet on a ManualClock: counters follow the trace, speed, restarts, starvation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from autoscaler.clock import ManualClock
from autoscaler.profile import load_profile
from prewarm_cli.simulate import BUNDLED_PROFILE
from simulations.emulator import EmulatedFleet, FleetSnapshot
from tests.emulator.helpers import START_S, constant_trace, fleet, stepped_trace


def totals(snap: FleetSnapshot) -> tuple[float, float, float]:
    return (snap.prompt_tokens_total, snap.generation_tokens_total, snap.requests_finished_total)


@pytest.mark.parametrize(
    ("wall_s", "expected"),
    [
        (0.0, (0, 0, 0)),
        (0.99, (0, 0, 0)),  # trace second 0 is not over yet
        (1.0, (300, 30, 2)),  # second 0: requests of 100 + 200 prompt, 10 + 20 output
        (2.0, (600, 60, 3)),  # second 1: 300 + 30
        (3.0, (600, 60, 3)),  # second 2 is empty
        (4.0, (1500, 150, 5)),  # second 3: 400 + 500, 40 + 50
        (5.0, (1800, 180, 7)),  # looped: second 0 again
    ],
    ids=["start", "mid-first-second", "1s", "2s", "empty-second", "whole-trace", "second-lap"],
)
def test_counters_add_the_trace_tokens_second_by_second(
    wall_s: float, expected: tuple[int, int, int]
) -> None:
    emulated, clock = fleet()
    clock.advance(wall_s)
    assert totals(emulated.snapshot()) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("speed", "wall_s", "expected_prompt"),
    [
        (1.0, 2.0, 600),
        (2.0, 1.0, 600),  # twice as fast: 2 trace seconds in 1 wall second
        (2.0, 2.0, 1500),
        (0.5, 4.0, 600),
        (0.5, 3.9, 300),
        (10.0, 0.6, 2100),  # 6 trace seconds: one lap (1500) and seconds 0-1 again
    ],
    ids=["1x", "2x-half-time", "2x", "half-speed", "half-speed-partial", "10x-loops"],
)
def test_speed_scales_trace_time(speed: float, wall_s: float, expected_prompt: int) -> None:
    emulated, clock = fleet(speed=speed)
    clock.advance(wall_s)
    assert emulated.snapshot().prompt_tokens_total == pytest.approx(expected_prompt)


def test_without_loop_counters_stop_at_the_end_of_the_trace() -> None:
    emulated, clock = fleet(loop=False)
    clock.advance(1_000.0)
    snap = emulated.snapshot()
    assert totals(snap) == pytest.approx((1500, 150, 5))
    assert snap.trace_s == 1000 and snap.ready_replicas == 1


def test_counters_never_decrease_across_scrapes_and_match_the_trace() -> None:
    trace = stepped_trace([(5, 300), (30, 300), (5, 300)])
    emulated, clock = fleet(trace, replicas=None, speed=7.0)  # auto-sized: pods come and go
    rng = np.random.default_rng(0)
    previous: dict[tuple[str, str], tuple[float, ...]] = {}
    pods_seen: set[str] = set()
    for _ in range(60):
        clock.advance(float(rng.uniform(0.0, 20.0)))
        snap = emulated.snapshot()
        for s in snap.series:
            pods_seen.add(s.pod)
            values: tuple[float, ...] = (
                s.prompt_tokens,
                s.generation_tokens,
                s.requests_stopped,
                s.ttft_sum_s,
                *s.ttft_buckets,
            )
            before = previous.get((s.pod, s.engine))
            if before is not None:
                assert all(b <= v for b, v in zip(before, values, strict=True)), s.pod
            previous[(s.pod, s.engine)] = values
    assert len(pods_seen) > snap.ready_replicas  # the fleet did scale during the replay
    # The auto-sized fleet keeps up: every offered token is served, lap after lap.
    laps, pos = divmod(snap.trace_s, math.floor(trace.duration_s) + 1)
    seconds = trace.arrival_s // 1.0
    lap_tokens = float(trace.prompt_tokens.sum())
    expected = laps * lap_tokens + float(trace.prompt_tokens[seconds < pos].sum())
    assert snap.prompt_tokens_total == pytest.approx(expected, rel=1e-3)


def test_series_split_the_fleet_evenly_over_pods_and_engines() -> None:
    emulated, clock = fleet(replicas=3, engines_per_replica=2)
    clock.advance(4.0)
    snap = emulated.snapshot()
    assert [(s.pod, s.engine) for s in snap.series] == [
        (f"demo-{p}", str(e)) for p in range(3) for e in range(2)
    ]
    assert sum(s.prompt_tokens for s in snap.series) == pytest.approx(1500)
    assert sum(s.ttft_count for s in snap.series) == pytest.approx(5)


def test_restart_resets_counters_and_they_grow_again_from_zero() -> None:
    emulated, clock = fleet()
    clock.advance(2.0)
    before = emulated.snapshot()
    assert before.prompt_tokens_total == pytest.approx(600)
    emulated.restart()
    after = emulated.snapshot()
    assert totals(after) == (0.0, 0.0, 0.0)
    series = after.series[0]
    assert (series.prompt_tokens, series.ttft_count, series.ttft_sum_s) == (0.0, 0.0, 0.0)
    assert series.created_s == START_S + 2.0
    clock.advance(2.0)  # seconds 2 (empty) and 3 (900 prompt tokens)
    assert emulated.snapshot().prompt_tokens_total == pytest.approx(900)


def test_a_restart_is_invisible_to_rates_as_to_prometheus_rate() -> None:
    emulated, clock = fleet(constant_trace(duration_s=600), replicas=4)
    clock.advance(120.0)
    emulated.restart()
    clock.advance(30.0)
    assert emulated.observation().prompt_tokens_per_s == pytest.approx(20_000)


@pytest.mark.parametrize("speed", [1.0, 3.0, 0.5], ids=["1x", "3x", "half"])
def test_observed_rates_are_per_wall_second(speed: float) -> None:
    # 10 req/s of 2,000 + 100 tokens: 20,000 prompt and 1,000 gen tok/s of trace time.
    emulated, clock = fleet(constant_trace(duration_s=600), replicas=4, speed=speed)
    clock.advance(200.0)
    obs = emulated.observation()
    assert obs.t_s == START_S + 200.0
    assert obs.prompt_tokens_per_s == pytest.approx(20_000 * speed)
    assert obs.generation_tokens_per_s == pytest.approx(1_000 * speed)
    assert obs.requests_per_s == pytest.approx(10 * speed)
    # Gauges are states: concurrency is 10 req/s x 2.5 s decode (100 tokens at 40 tok/s).
    assert obs.requests_running == pytest.approx(25.0)
    assert obs.requests_waiting == 0.0 and obs.ready_replicas == 4
    assert obs.ttft_p95_s is not None and obs.ttft_p95_s < 1.0


@pytest.mark.parametrize(
    ("rps", "expected_replicas"),
    [
        # work 0.3 replica-s per request; / 0.9 knee / 0.8 target utilisation
        (3, 2),  # 0.9 replica-s/s -> 1.25 -> 2
        (10, 5),  # 3.0 -> 4.17 -> 5
        (24, 10),  # 7.2 -> 10.0 -> 10
    ],
    ids=["3rps", "10rps", "24rps-exact"],
)
def test_auto_sizing_is_just_enough_at_target_utilisation(rps: int, expected_replicas: int) -> None:
    emulated, clock = fleet(constant_trace(rps=rps), replicas=None)
    clock.advance(90.0)
    snap = emulated.snapshot()
    assert snap.ready_replicas == expected_replicas
    assert len(snap.series) == expected_replicas
    assert snap.requests_waiting == 0.0
    assert snap.prompt_tokens_total == pytest.approx(90 * rps * 2000)


def test_starving_the_fleet_grows_the_queue_and_flattens_served_tokens() -> None:
    emulated, clock = fleet(constant_trace(duration_s=900), replicas=4)  # needs 3 replicas
    clock.advance(60.0)
    healthy = emulated.observation()
    assert healthy.requests_waiting == 0.0
    emulated.set_replicas(1)
    waiting = []
    served_before = emulated.snapshot().prompt_tokens_total
    for _ in range(4):
        clock.advance(15.0)
        waiting.append(emulated.snapshot().requests_waiting)
    assert waiting == sorted(waiting) and waiting[0] > 0
    # 1 replica serves 1 replica-second per second: a third of the 3 offered, so
    # 20,000 / 3 prompt tok/s instead of 20,000, and 20 / 3 requests queue up per second.
    served = emulated.snapshot().prompt_tokens_total - served_before
    assert served == pytest.approx(60 * 20_000 / 3)
    assert waiting[-1] == pytest.approx(60 * 20 / 3)
    starved = emulated.observation()
    assert starved.prompt_tokens_per_s == pytest.approx(20_000 / 3)
    assert starved.ttft_p95_s is not None and starved.ttft_p95_s > 10.0
    # Clients give up after the 120 s request timeout: the queue never holds more than the
    # last 120 s of arrivals (1,200 requests), and the ones dropped count as aborted.
    clock.advance(300.0)
    snap = emulated.snapshot()
    assert snap.requests_waiting == pytest.approx(120 * 10)
    assert snap.requests_aborted_total > 0
    assert emulated.observation().prompt_tokens_per_s == pytest.approx(20_000 / 3)


def test_zero_replicas_export_no_series_and_serve_nothing() -> None:
    emulated, clock = fleet(constant_trace(), replicas=0)
    clock.advance(10.0)
    snap = emulated.snapshot()
    assert snap.series == () and snap.prompt_tokens_total == 0.0
    assert snap.requests_waiting == pytest.approx(100)


def test_kv_usage_is_held_tokens_over_the_ready_budget() -> None:
    # 10 req/s holding 2,100 tokens for ceil(100 / 40) = 3 s: 63,000 tokens of 2 x 1 M.
    emulated, clock = fleet(constant_trace(), replicas=2)
    clock.advance(30.0)
    assert emulated.snapshot().kv_cache_usage == pytest.approx(63_000 / 2_000_000)


def test_history_recomputes_the_offered_rates() -> None:
    emulated, clock = fleet(constant_trace(duration_s=600), replicas=4, speed=2.0)
    clock.advance(100.0)
    past = emulated.history(START_S - 60.0, START_S + 100.0, 20.0)
    assert [o.t_s for o in past] == [START_S - 60.0 + 20.0 * i for i in range(9)]
    # Looping: before the start the fleet was on an earlier lap at the same rates.
    assert all(o.prompt_tokens_per_s == pytest.approx(40_000) for o in past)
    live = emulated.observation()
    assert past[-1].prompt_tokens_per_s == pytest.approx(live.prompt_tokens_per_s)
    assert past[-1].requests_running == pytest.approx(live.requests_running)
    assert past[-1].kv_cache_usage == pytest.approx(live.kv_cache_usage)


def test_history_without_loop_leaves_out_steps_before_the_start() -> None:
    emulated, _ = fleet(loop=False)
    past = emulated.history(START_S - 30.0, START_S + 30.0, 10.0)
    assert [o.t_s for o in past] == [START_S + 10.0, START_S + 20.0, START_S + 30.0]


@pytest.mark.parametrize(
    "kwargs",
    [{"speed": 0.0}, {"speed": math.inf}, {"engines_per_replica": 0}, {"replicas": -1}],
    ids=["speed-0", "speed-inf", "no-engines", "negative-replicas"],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        fleet(**kwargs)


def test_set_replicas_rejects_negative_counts() -> None:
    emulated, _ = fleet()
    with pytest.raises(ValueError, match="replicas"):
        emulated.set_replicas(-2)


def test_the_fleet_accepts_the_bundled_profile_defaults() -> None:
    """Given only a trace, the bundled profile and a clock, the fleet runs on its defaults:
    model "demo", one engine per pod, sized to the demand, real time, looping the trace."""
    clock = ManualClock(START_S)
    emulated = EmulatedFleet(
        constant_trace(duration_s=60), load_profile(BUNDLED_PROFILE), clock=clock
    )
    clock.advance(90.0)
    snap = emulated.snapshot()
    # 10 req/s x (2,000 / 8,000 + 100 / 2,500) = 2.9 replicas of work at the bundled
    # profile's capacity; / 0.8 target utilisation = 3.625 -> 4.
    assert snap.model_name == "demo"
    assert snap.ready_replicas == 4
    assert [(s.pod, s.engine) for s in snap.series] == [(f"demo-{i}", "0") for i in range(4)]
    # 90 s into a 60 s trace at speed 1: the second lap, still serving at the trace's rates.
    assert (snap.trace_s, snap.trace_position_s) == (90, 30)
    assert snap.prompt_tokens_total == pytest.approx(90 * 10 * 2000)
    assert emulated.observation().prompt_tokens_per_s == pytest.approx(10 * 2000)
