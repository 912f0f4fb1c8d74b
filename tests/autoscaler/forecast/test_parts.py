"""The small parts behind the kinds: reset masking, coarse buckets, the ARIMA recursion,
the seasonal profile."""

from __future__ import annotations

import numpy as np
import pytest

from autoscaler.forecast.arma import ArimaRecursion
from autoscaler.forecast.clean import mask_resets
from autoscaler.forecast.coarse import coarse_view
from autoscaler.forecast.quiet import quiet_fit
from autoscaler.forecast.season_profile import seasonal_profile

NAN = float("nan")


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([900.0, 12.0, 950.0], [900.0, NAN, 950.0]),  # the docstring's worked number
        ([900.0, 950.0, 12.0], [900.0, 950.0, NAN]),  # newest bucket: judged by its left
        ([900.0, 12.0, 11.0, 950.0], [900.0, 12.0, 11.0, 950.0]),  # two buckets: a real dip
        ([900.0, 300.0, 950.0], [900.0, 300.0, 950.0]),  # a deep but plausible swing
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),  # zero traffic is not a reset
        ([900.0, NAN, 12.0, 950.0], [900.0, NAN, NAN, 950.0]),  # judged across a gap
        ([5.0], [5.0]),
        ([940.0, 12.0, NAN, 950.0], [940.0, NAN, NAN, 950.0]),  # a scrape gap after the dip
        ([940.0, 12.0, NAN], [940.0, NAN, NAN]),  # nothing after the dip yet: left alone
        ([940.0, 12.0, NAN, 11.0], [940.0, 12.0, NAN, 11.0]),  # low on both sides: real
    ],
    ids=[
        "inside",
        "newest",
        "two-low",
        "swing",
        "zeros",
        "across-gap",
        "single",
        "dip-then-gap",
        "dip-then-gap-newest",
        "low-across-gap",
    ],  # fmt: skip
)
def test_mask_resets(history: list[float], expected: list[float]) -> None:
    np.testing.assert_array_equal(mask_resets(np.array(history)), expected)


def test_coarse_view_worked_number() -> None:
    # Docstring: 60 s buckets, 300 s coarse, history ends at 10:07 -> 2 partial buckets,
    # fine steps 10:07..10:09 read coarse step 0 and 10:10 reads coarse step 1.
    end_s = 10 * 3600 + 7 * 60
    view = coarse_view(np.arange(20.0), end_s, 60.0, 300.0)
    assert (view.partial, view.factor, view.end_s) == (2, 5, 10 * 3600 + 5 * 60)
    # 18 complete buckets: the oldest 3 do not fill a coarse bucket; 3..7, 8..12, 13..17 do.
    np.testing.assert_array_equal(view.values, [5.0, 10.0, 15.0])
    assert view.end_index == (10 * 3600 + 5 * 60) // 300
    np.testing.assert_array_equal(view.to_fine(np.array([1.0, 2.0]), 4), [1, 1, 1, 2])
    assert view.steps_for(4) == 2


@pytest.mark.parametrize("order", [(1, 0, 0), (1, 0, 1), (2, 1, 1), (0, 1, 1), (1, 2, 0)], ids=str)
def test_arima_recursion_matches_statsmodels(order: tuple[int, int, int]) -> None:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    rng = np.random.default_rng(5)
    y = np.cumsum(rng.normal(0, 1, 300)) if order[1] else rng.normal(0, 1, 300)
    with quiet_fit():
        fit = SARIMAX(y[:250], order=order, trend="n").fit(disp=False)
    rec = ArimaRecursion.start(
        fit.arparams if order[0] else np.zeros(0),
        fit.maparams if order[2] else np.zeros(0),
        order[1],
        0.0,
        y[:250],
        fit.resid,
    )
    np.testing.assert_allclose(rec.forecast(5), fit.forecast(5), rtol=1e-4, atol=1e-4)
    extended = fit.extend(y[250:260])
    for value in y[250:260]:
        rec.update(float(value))
    np.testing.assert_allclose(rec.forecast(5), extended.forecast(5), rtol=1e-4, atol=1e-4)


def test_arima_recursion_worked_number() -> None:
    # AR(1) phi 0.8, last value 10 -> 8, 6.4, 5.12.
    rec = ArimaRecursion.start(np.array([0.8]), np.zeros(0), 0, 0.0, np.array([10.0]), np.zeros(1))
    np.testing.assert_allclose(rec.forecast(3), [8.0, 6.4, 5.12])


def test_seasonal_profile_recovers_the_daily_shape_at_absolute_phase() -> None:
    period = 24
    first = 7  # the history starts 7 buckets into a season
    k = first + np.arange(3 * period)
    shape = 10 * np.sin(2 * np.pi * k / period)
    profile = seasonal_profile(100 + 0.5 * np.arange(k.size) + shape, first, period)
    expected = 10 * np.sin(2 * np.pi * np.arange(period) / period)
    np.testing.assert_allclose(profile, expected, atol=0.5)
