"""Metric formulas: the worked numbers of autoscaler/backtest/metrics.py, computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoscaler.backtest import metrics

NAN = float("nan")


@pytest.mark.parametrize(
    ("actual", "mean", "expected"),
    [
        ([100, 200], [110, 170], 40 / 300),
        ([100, 200], [100, 200], 0.0),
        ([100, NAN, 200], [110, 999, 170], 40 / 300),
        ([0, 0], [0, 0], 0.0),
        ([0, 0], [1, 0], NAN),
    ],
    ids=["worked-number", "perfect", "gap-skipped", "all-zero-exact", "all-zero-miss"],
)
def test_wape(actual: list[float], mean: list[float], expected: float) -> None:
    got = metrics.wape(np.array(actual), np.array(mean))
    assert got == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize(
    ("values", "expected"),
    [([100, 110, 90], 15.0), ([100, NAN, 90, 80], 10.0), ([5, 5, 5], 0.0), ([7], NAN)],
    ids=["worked-number", "gap-pairs-skipped", "constant", "one-bucket"],
)
def test_naive_scale(values: list[float], expected: float) -> None:
    assert metrics.naive_scale(np.array(values)) == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize(
    ("actual", "mean", "scale", "expected"),
    [
        ([100, 200], [110, 170], 15.0, 20 / 15),
        ([5, 5], [5, 5], 0.0, 0.0),
        ([5, 5], [6, 5], 0.0, NAN),
    ],
    ids=["worked-number", "constant-perfect", "constant-miss"],
)
def test_mase(actual: list[float], mean: list[float], scale: float, expected: float) -> None:
    got = metrics.mase(np.array(actual), np.array(mean), scale)
    assert got == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize(
    ("actual", "upper", "q", "expected"),
    [
        ([100, 100], [90, 120], 0.95, (0.95 * 10 + 0.05 * 20) / 2),
        ([100], [100], 0.9, 0.0),
        ([100], [150], 0.5, 25.0),
    ],
    ids=["worked-number", "exact", "median-is-half-abs-error"],
)
def test_pinball(actual: list[float], upper: list[float], q: float, expected: float) -> None:
    assert metrics.pinball(np.array(actual), np.array(upper), q) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("actual", "upper", "expected"),
    [
        ([100, 100, 100, 100], [90, 120, 130, 100], 0.75),
        ([100, NAN], [90, 0], 0.0),
        ([NAN], [1], NAN),
    ],
    ids=["worked-number-ties-covered", "gap-skipped", "no-actuals"],
)
def test_coverage(actual: list[float], upper: list[float], expected: float) -> None:
    assert metrics.coverage(np.array(actual), np.array(upper)) == pytest.approx(
        expected, nan_ok=True
    )


def test_window_peaks_take_the_largest_observed_value_of_each_row() -> None:
    actual = np.array([[100, 80], [130, 100], [90, NAN], [NAN, NAN]])
    np.testing.assert_array_equal(metrics.window_peaks(actual), [100, 130, 90, NAN])


def test_peak_coverage_and_under_provisioned_fraction_compare_peaks() -> None:
    # (needed, provisioned): (100, 120), (130, 120), (90, 95), (101, 100) -> 2 of 4 covered.
    needed = np.array([100, 130, 90, 101])
    provisioned = np.array([120, 120, 95, 100])
    assert metrics.peak_coverage(needed, provisioned) == 0.5
    assert metrics.under_provisioned_fraction(needed, provisioned) == 0.5
    assert metrics.peak_coverage(np.array([100.0]), np.array([100.0])) == 1.0  # at = covered


def test_peak_metrics_drop_all_gap_rows() -> None:
    needed = metrics.window_peaks(np.array([[NAN, NAN], [10, 10]]))
    provisioned = np.array([0.0, 5.0])
    assert metrics.under_provisioned_fraction(needed, provisioned) == 1.0
    assert metrics.peak_coverage(needed, provisioned) == 0.0
    _, shortfall, excess = metrics.provisioning_cost(needed, provisioned, 1, 1)
    assert (shortfall, excess) == (0.5, 0.0)


@pytest.mark.parametrize(
    ("under_w", "over_w", "expected"),
    [(10, 1, 10 * 10 / 230 + 20 / 230), (1, 1, 30 / 230), (0, 1, 20 / 230)],
    ids=["worked-number-10-to-1", "even", "cost-only"],
)
def test_provisioning_cost(under_w: float, over_w: float, expected: float) -> None:
    needed = np.array([100.0, 130.0])
    provisioned = np.array([120.0, 120.0])
    objective, shortfall, excess = metrics.provisioning_cost(needed, provisioned, under_w, over_w)
    assert objective == pytest.approx(expected)
    assert shortfall == pytest.approx(10 / 230)
    assert excess == pytest.approx(20 / 230)
    assert math.isclose(objective, under_w * shortfall + over_w * excess)
