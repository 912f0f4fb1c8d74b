"""The forecast part: the mean peak at the target utilisation, the upper peak at the peak
utilisation, whichever needs more (`planner.token_replicas`)."""

from __future__ import annotations

import pytest

from autoscaler.decision import PlannerState
from autoscaler.planner import decide
from tests.fakes import PROMPT_CAPACITY, forecast, make_profile, observation


def _forecast_replicas(mean_load: float, upper_load: float, **profile_overrides: object) -> int:
    """The forecast part for a flat prompt forecast of `mean_load` replicas of load whose
    horizon peak's upper quantile is `upper_load` replicas of load."""
    profile = make_profile(**profile_overrides)
    prompt = forecast(mean_load * PROMPT_CAPACITY, 0.0, upper=upper_load * PROMPT_CAPACITY)
    decision, _ = decide(
        observation(0.0), prompt, forecast(0.0, 0.0), profile, PlannerState(1), 0.0
    )
    return decision.forecast_replicas


def test_the_peak_utilisation_takes_a_share_of_the_targets_headroom() -> None:
    assert make_profile().peak_utilisation == pytest.approx(0.85)  # 0.8 + 0.25 x 0.2
    assert make_profile(target_utilisation=0.6).peak_utilisation == pytest.approx(0.7)
    assert make_profile(peak_headroom_share=0).peak_utilisation == pytest.approx(0.8)
    assert make_profile(peak_headroom_share=1).peak_utilisation == pytest.approx(1.0)


def test_the_upper_peak_runs_replicas_at_the_peak_utilisation() -> None:
    # Worked number of token_replicas: 5.0 mean / 0.8 = 6.25, 6.6 upper / 0.85 = 7.8 -> 8.
    # Both at the target (a share of 0), 6.6 / 0.8 = 8.25 asked for 9.
    assert _forecast_replicas(5.0, 6.6) == 8
    assert _forecast_replicas(5.0, 6.6, peak_headroom_share=0) == 9


def test_the_mean_peak_at_the_target_binds_when_the_margin_is_narrow() -> None:
    # 10.0 / 0.8 = 12.5 -> 13 against 10.2 / 0.85 = 12.0 -> 12: the expected peak keeps
    # its headroom whatever the margin.
    assert _forecast_replicas(10.0, 10.2) == 13


@pytest.mark.parametrize(("share", "expected"), [(0.0, 10), (1.0, 9)])
def test_the_share_ranges_from_the_target_to_full_capacity(share: float, expected: int) -> None:
    # Upper 9.0 at a target of 0.9: 9.0 / 0.9 = 10 at share 0, 9.0 / 1.0 = 9 at share 1.
    got = _forecast_replicas(5.0, 9.0, target_utilisation=0.9, peak_headroom_share=share)
    assert got == expected


def test_the_reason_names_both_utilisations() -> None:
    profile = make_profile()
    prompt = forecast(4 * PROMPT_CAPACITY, 0.0, upper=5 * PROMPT_CAPACITY)
    decision, _ = decide(
        observation(0.0), prompt, forecast(0.0, 0.0), profile, PlannerState(1), 0.0
    )
    assert "(at 85%; the mean peak at 80%)" in decision.reason


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_share_outside_zero_to_one_is_refused_naming_the_field(share: float) -> None:
    with pytest.raises(ValueError, match="peak_headroom_share"):
        make_profile(peak_headroom_share=share)
