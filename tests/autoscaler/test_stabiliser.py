"""Stabilisers in a fixed order: scale-down delay, then rate limits, then bounds."""

from __future__ import annotations

import pytest

from autoscaler.decision import PlannerState
from autoscaler.stabiliser import stabilise
from tests.fakes import make_profile

NOW = 1000.0
# Up to max(current x 4, current + 4); down by at most ceil(current x 0.25); delay 300 s.
PROFILE = make_profile(
    replicas={"min": 1, "max": 64},
    scaling={
        "max_up_factor": 4.0,
        "max_up_replicas": 4,
        "max_down_fraction": 0.25,
        "scale_down_delay_s": 300,
    },
)


@pytest.mark.parametrize(
    ("current", "raw", "recent", "expected", "note"),
    [
        (4, 6, (), 6, ""),
        (4, 4, (), 4, ""),
        (0, 3, (), 3, ""),  # from zero: max(0 x 4, 0 + 4) = 4 allows 3
        (4, 30, (), 16, "rate limit 4 -> 16"),  # factor wins: max(16, 8)
        (1, 30, (), 5, "rate limit 1 -> 5"),  # replicas win: max(4, 5)
        (10, 2, (), 7, "rate limit 10 -> 7"),  # shed at most ceil(2.5) = 3
        (2, 1, (), 1, ""),  # ceil(0.5) = 1
        (10, 2, ((NOW - 100, 10),), 10, "scale-down delay holds 10"),
        (10, 2, ((NOW - 100, 9),), 9, "scale-down delay holds 9"),
        (10, 2, ((NOW - 299, 10), (NOW - 15, 3)), 10, "delay holds 10"),
        (10, 2, ((NOW - 301, 10),), 7, "rate limit 10 -> 7"),  # older than the delay
        (10, 2, ((NOW - 100, 4),), 7, "delay holds 4; rate limit 10 -> 7"),
        (4, 2, ((NOW - 100, 30),), 16, "delay holds 30; rate limit 4 -> 16"),
        (10, 2, ((NOW - 100, 100),), 40, "delay holds 100; rate limit 10 -> 40"),
        (1, 0, (), 1, "bounds [1, 64]"),
        (60, 100, (), 64, "bounds [1, 64]"),
        (100, 100, (), 64, "bounds [1, 64]"),  # the down limit alone would keep 75
        (40, 2, ((NOW - 100, 100),), 64, "delay holds 100; bounds [1, 64]"),
    ],
    ids=[
        "up-within-limits",
        "steady",
        "up-from-zero",
        "up-limited-by-factor",
        "up-limited-by-replicas",
        "down-limited",
        "down-by-one",
        "delay-holds-peak",
        "delay-holds-largest-recent",
        "delay-takes-max-of-window",
        "delay-expired",
        "delay-then-down-limit",
        "delay-then-up-limit",
        "held-peak-rate-limited",
        "min-bound",
        "max-bound-after-up-limit",
        "max-bound-beats-down-limit",
        "held-peak-then-bounds",
    ],
)
def test_fixed_order(current: int, raw: int, recent: tuple, expected: int, note: str) -> None:
    result = stabilise(raw, PlannerState(current, recent), PROFILE, NOW)
    assert result.replicas == expected
    assert result.state.replicas == expected
    for part in note.split("; ") if note else ():
        assert part in result.note, (part, result.note)
    if not note:
        assert result.note == ""


def test_min_bound_beats_the_up_limit() -> None:
    profile = make_profile(replicas={"min": 10, "max": 64})
    result = stabilise(1, PlannerState(1), profile, NOW)
    assert result.replicas == 10  # the up limit alone would allow only max(4, 5) = 5
    assert "bounds [10, 64]" in result.note


def test_state_keeps_recent_raw_recommendations_within_the_delay() -> None:
    recent = ((NOW - 400, 50), (NOW - 200, 6), (NOW - 15, 5))
    result = stabilise(3, PlannerState(6, recent), PROFILE, NOW)
    assert result.state.recent == ((NOW - 200, 6), (NOW - 15, 5), (NOW, 3))
    assert result.replicas == 6  # the 50 aged out; 6 is the peak of the last 300 s


def test_zero_delay_follows_raw_at_once() -> None:
    profile = make_profile(scaling={"scale_down_delay_s": 0, "max_down_fraction": 1.0})
    result = stabilise(2, PlannerState(10, ((NOW - 1, 10),)), profile, NOW)
    assert result.replicas == 2
    assert result.state.recent == ((NOW, 2),)


def test_a_spike_the_rate_limit_refused_is_not_held_for_the_delay() -> None:
    """10 replicas, one decision asks for 100: the answer is 40, and 40 (not 100) is what the
    delay remembers, so the next calm decision holds 40 instead of climbing to 100."""
    state = PlannerState(10)
    spike = stabilise(100, state, PROFILE, NOW)
    assert spike.replicas == 40
    calm = stabilise(10, spike.state, PROFILE, NOW + 15)
    assert calm.replicas == 40
    assert max(r for _, r in calm.state.recent) == 40
