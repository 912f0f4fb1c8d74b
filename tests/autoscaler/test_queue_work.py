"""The reactive floor's queue term: the work a waiting request brings, bounded.

One saturated replica (KV full) serves 8,000 prompt + 500 gen tok/s = 1.2 replicas of load
while 500 requests wait. The profile's typical request is 2,048 / 8,000 + 256 / 2,500 =
0.3584 replica-seconds; 500 of them over a 60 s drain is 2.99 replicas more. (The default
drain is the cold start; 60 s keeps these numbers readable.)
"""

from __future__ import annotations

import pytest

from autoscaler.decision import PlannerState
from autoscaler.planner import decide
from autoscaler.profile import ModelProfile
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


def test_by_default_the_backlog_drains_over_the_cold_start() -> None:
    # Replicas asked for now arrive after the 300 s cold start: 500 typical requests are
    # 179.2 replica-seconds, over 300 s 0.6 replicas more.
    assert make_profile().queue_drain_window_s == 300.0
    assert _floor(0.0, profile=make_profile())[1] == pytest.approx(0.6, abs=0.01)


def test_a_growing_queue_counts_as_demand_beyond_what_is_served() -> None:
    # 200 more waiting than 15 s ago: 13.3 typical requests/s (4.78 replicas of load) arrive
    # beyond what is served, on top of the 500-request backlog over 60 s (2.99).
    before = observation(-15.0, 8000.0, 500.0, waiting=300, running=256, kv=1.0)
    now = observation(0.0, 8000.0, 500.0, waiting=500, running=256, kv=1.0)
    d, _ = decide(
        now, forecast(0.0, 0.0), forecast(0.0, 0.0), PROFILE, PlannerState(60), 0.0,
        previous=before,
    )  # fmt: skip
    assert "queued 7.77" in d.reason
    assert d.reactive_replicas == 12  # (1.2 + 7.77) / 0.8 = 11.2 -> 12
    shrinking = observation(-15.0, 8000.0, 500.0, waiting=900, running=256, kv=1.0)
    d, _ = decide(
        now, forecast(0.0, 0.0), forecast(0.0, 0.0), PROFILE, PlannerState(60), 0.0,
        previous=shrinking,
    )  # fmt: skip
    assert "queued 2.99" in d.reason  # a draining queue adds only its backlog
