"""The reactive floor's queue term: the work a waiting request brings, bounded.

One saturated replica (KV full) serves 8,000 prompt + 500 gen tok/s = 1.2 replicas of load
while 500 requests wait. The profile's typical request is 2,048 / 8,000 + 256 / 2,500 =
0.3584 replica-seconds; 500 of them over a 60 s drain is 2.99 replicas more. (The default
drain is the cold start; 60 s keeps these numbers readable.)
"""

from __future__ import annotations

import pytest

from autoscaler.decision import PlannerState
from autoscaler.observation import Observation
from autoscaler.planner import decide
from autoscaler.profile import ModelProfile
from autoscaler.queue_work import arrived_token_rates
from tests.fakes import forecast, make_profile, observation

PROFILE = make_profile(queue_drain_s=60)


def _floor(
    requests_per_s: float, prompt: float = 8000.0, profile: ModelProfile = PROFILE
) -> tuple[int, float]:
    obs = observation(
        0.0, prompt, 500.0, waiting=500, running=256, kv=1.0, requests_per_s=requests_per_s
    )
    d, _ = decide(obs, forecast(0.0, 0.0), forecast(0.0, 0.0), profile, PlannerState(60), 0.0)
    queued = float(d.reason.split("+ queued ")[1].split(" ")[0])
    return d.reactive_replicas, queued


@pytest.mark.parametrize(
    ("requests_per_s", "prompt", "replicas", "queued"),
    [
        (0.0, 8000.0, 6, 2.99),  # nothing finished: the queue still counts, typical size
        (0.05, 8000.0, 6, 2.99),  # one finish in 20 s: too few to measure, typical size
        (1.0, 8000.0, 14, 10.0),  # 1.2 replica-s per request, measured, within 8x typical
        (1.0, 40000.0, 37, 23.89),  # 5.2 replica-s measured: capped at 8x typical (2.87)
        (200.0, 8000.0, 2, 0.37),  # 0.006 replica-s measured: floored at typical / 8
    ],
    ids=["none-finished", "few-finished", "measured", "capped-high", "floored-low"],
)
def test_queue_work_is_bounded(
    requests_per_s: float, prompt: float, replicas: int, queued: float
) -> None:
    assert _floor(requests_per_s, prompt) == (replicas, pytest.approx(queued, abs=0.01))


def test_the_typical_request_comes_from_the_profile() -> None:
    long_prompts = make_profile(
        typical_request={"prompt_tokens": 8000, "output_tokens": 2500}, queue_drain_s=60
    )
    assert _floor(0.0, profile=long_prompts)[1] == pytest.approx(500 * 2.0 / 60, abs=0.01)


def test_replicas_max_bounds_a_huge_queue() -> None:
    bounded = make_profile(replicas={"max": 10})
    obs = observation(0.0, 8000.0, waiting=100_000, kv=1.0)
    d, _ = decide(obs, None, None, bounded, PlannerState(10), 0.0)
    assert d.reactive_replicas > 10 and d.replicas == 10


def test_by_default_the_backlog_drains_over_part_of_the_cold_start() -> None:
    # 0.4 of the 300 s cold start: 500 typical requests are 179.2 replica-seconds, over
    # 120 s 1.49 replicas more. Never under a decision interval: a 10 s cold start drains
    # over 15 s.
    assert make_profile().queue_drain_window_s == 120.0
    assert _floor(0.0, profile=make_profile())[1] == pytest.approx(1.49, abs=0.01)
    assert make_profile(cold_start_s=10).queue_drain_window_s == 15.0


def test_a_growing_queue_counts_as_demand_beyond_what_is_served() -> None:
    # 200 more waiting than 15 s ago: 13.3 typical requests/s (4.78 replicas of load) arrive
    # beyond what is served. Replicas asked for now serve after the 300 s cold start and find
    # the 500 waiting (179 replica-s) plus 300 s of that growth (1,434): 1,613 over the 60 s
    # drain is 26.88 more.
    before = observation(-15.0, 8000.0, 500.0, waiting=300, running=256, kv=1.0)
    now = observation(0.0, 8000.0, 500.0, waiting=500, running=256, kv=1.0)
    d, _ = decide(
        now, forecast(0.0, 0.0), forecast(0.0, 0.0), PROFILE, PlannerState(60), 0.0,
        previous=before,
    )  # fmt: skip
    assert "queued 31.66" in d.reason
    assert d.reactive_replicas == 42  # (1.2 + 31.66) / 0.8 = 41.1 -> 42
    shrinking = observation(-15.0, 8000.0, 500.0, waiting=900, running=256, kv=1.0)
    d, _ = decide(
        now, forecast(0.0, 0.0), forecast(0.0, 0.0), PROFILE, PlannerState(60), 0.0,
        previous=shrinking,
    )  # fmt: skip
    assert "queued 2.99" in d.reason  # a draining queue adds only its backlog


# 40,000 prompt + 2,500 gen tok/s is 6.0 replicas of load served at 30 req/s: 0.2 replica-s
# a request (the docstring's worked number in queue_work.arrived_token_rates).
def _served(t_s: float, waiting: float, ready: int = 8, prompt: float = 40_000.0) -> Observation:
    return observation(t_s, prompt, prompt / 16, waiting=waiting, ready=ready, requests_per_s=30.0)


@pytest.mark.parametrize(
    ("previous", "latest", "share"),
    [
        (_served(-15.0, 450), _served(0.0, 300), 4.0 / 6.0),  # drains 10 req/s: 2.0 of 6.0
        (_served(-15.0, 300), _served(0.0, 600), 10.0 / 6.0),  # grows 20 req/s: 4.0 more
        (_served(-600.0, 0), _served(0.0, 600), 6.2 / 6.0),  # 600 over 10 min: 1 req/s
        (None, _served(0.0, 600), 1.0),  # a first sample has no change to read
        (_served(0.0, 100), _served(0.0, 600), 1.0),  # no time between them: no rate
        (_served(-15.0, 600), _served(0.0, 0), 0.0),  # cleared faster than served: floored
        (_served(-15.0, 0), _served(0.0, 600, ready=0), 1.0),  # nothing ready: as observed
        (_served(-15.0, 0), _served(0.0, 600, prompt=0.0), 1.0),  # nothing served
    ],
    ids=[
        "draining", "growing", "far-apart", "first", "same-instant", "cleared", "no-ready",
        "none-served",
    ],
)  # fmt: skip
def test_arrived_token_rates_scale_the_served_rates_by_the_queues_change(
    previous: Observation | None, latest: Observation, share: float
) -> None:
    prompt, generation = arrived_token_rates(latest, previous, make_profile())
    assert prompt == pytest.approx(latest.prompt_tokens_per_s * share)
    assert generation == pytest.approx(latest.generation_tokens_per_s * share)


def test_the_queues_change_is_read_over_at_least_a_decision_interval() -> None:
    # vLLM's queue gauge moves only when Prometheus scrapes it. Two samples 0.5 s apart
    # happen (the first refresh after a start and the next at the ScaledObject's phase; a
    # back-fill's last point and the first live one): a scrape between them put 15 s of
    # growth, 20 requests, over 0.5 s: 40 req/s, 8.0 replicas of load, and 300 s of it
    # (2,400 replica-s) over the 120 s drain: 44 replicas where 10 serve. Read over the 15 s
    # decision interval it is the 1.33 req/s it was: 0.27 replicas, plus the 320 waiting
    # (64 replica-s) and 300 s of that growth (80) over the 120 s drain (1.2): 1.47,
    # (6.0 + 1.47) / 0.8 -> 10.
    profile = make_profile()
    before, now = _served(-0.5, 300), _served(0.0, 320)
    d, _ = decide(
        now, forecast(0.0, 0.0), forecast(0.0, 0.0), profile, PlannerState(8), 0.0,
        previous=before,
    )  # fmt: skip
    assert "queued 1.47" in d.reason and d.reactive_replicas == 10
    prompt, _ = arrived_token_rates(now, before, profile)
    assert prompt == pytest.approx(40_000 * (6.0 + 20 * 0.2 / 15) / 6.0)
