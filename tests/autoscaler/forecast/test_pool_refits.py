"""Forecasters with inline refits off: `predict` never fits, a refit pool does."""

from __future__ import annotations

import numpy as np
import pytest

from autoscaler.forecast.refit_pool import RefitJob, RefitPool, install_outcomes, refittables
from autoscaler.forecast.registry import build_forecaster
from tests.autoscaler.forecast.series import BUCKET_S, DAY, HORIZON, demand, settings

SERIES = demand(4 * DAY)
POOLED_KINDS = ["holt-winters", "sarimax", "mstl", "kalman"]


def pooled(kind: str):  # type: ignore[no-untyped-def]
    forecaster = build_forecaster(settings(kind))
    for part in refittables(forecaster):
        part.inline_refits = False
    return forecaster


def forbid_fits(monkeypatch: pytest.MonkeyPatch, forecaster: object) -> None:
    def fitted_inline(*args: object) -> None:
        raise AssertionError("fitted on the decision path")

    name = "_fit" if hasattr(forecaster, "_fit") else "fit"
    monkeypatch.setattr(type(forecaster), name, fitted_inline)


@pytest.mark.parametrize("kind", POOLED_KINDS)
def test_without_parameters_it_holds_the_last_value_and_says_it_waits(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    forecaster = pooled(kind)
    forbid_fits(monkeypatch, forecaster)
    end = 3 * DAY
    point = forecaster.predict(SERIES[:end], end * BUCKET_S, HORIZON)
    assert point.method == "last-value"
    assert "waits for its first fit from the refit pool" in point.note
    np.testing.assert_allclose(point.mean, SERIES[end - 1])


@pytest.mark.parametrize("kind", POOLED_KINDS)
def test_pool_fitted_parameters_forecast_and_advance_without_an_inline_fit(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    forecaster = pooled(kind)
    end = 3 * DAY
    assert forecaster.refit_due(SERIES[:end], end * BUCKET_S)
    jobs = [RefitJob(forecaster, SERIES[:end], end * BUCKET_S)]
    with RefitPool(workers=1, executor="thread") as pool:
        report = install_outcomes(jobs, pool.fit(jobs), 0.0)
    assert (report.fitted, report.failed) == (1, 0)
    assert not forecaster.refit_due(SERIES[:end], end * BUCKET_S)
    forbid_fits(monkeypatch, forecaster)
    # A day later the parameters are due again, but the old ones keep forecasting: the state
    # advances bucket by bucket until the pool delivers.
    later = end + DAY
    assert forecaster.refit_due(SERIES[:later], later * BUCKET_S)
    point = forecaster.predict(SERIES[:later], later * BUCKET_S, HORIZON)
    assert point.method == kind and point.note == ""
    truth_next = SERIES[later - 1]
    assert abs(point.mean[0] - truth_next) < 0.2 * truth_next


def test_a_failed_pool_fit_keeps_the_parameters_and_waits_a_cadence() -> None:
    forecaster = pooled("holt-winters")
    end = 3 * DAY
    jobs = [RefitJob(forecaster, SERIES[:end], end * BUCKET_S)]
    install_outcomes(jobs, [("ok", forecaster.fit_on(SERIES[:end], end * BUCKET_S))], 0.0)
    later = end + DAY
    assert forecaster.refit_due(SERIES[:later], later * BUCKET_S)
    retry = [RefitJob(forecaster, SERIES[:later], later * BUCKET_S)]
    report = install_outcomes(retry, [("failed", "LinAlgError: SVD did not converge")], 0.0)
    assert report.failed == 1
    assert not forecaster.refit_due(SERIES[:later], later * BUCKET_S)
    assert forecaster.predict(SERIES[:later], later * BUCKET_S, HORIZON).method == "holt-winters"


def test_spawned_worker_processes_fit_what_the_parent_installs() -> None:
    forecaster = pooled("kalman")
    end = 3 * DAY
    jobs = [RefitJob(forecaster, SERIES[:end], end * BUCKET_S)]
    with RefitPool(workers=1) as pool:
        report = install_outcomes(jobs, pool.fit(jobs), 0.0)
    assert report.fitted == 1
    assert forecaster.predict(SERIES[:end], end * BUCKET_S, HORIZON).method == "kalman"


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        RefitPool(workers=0)


@pytest.mark.parametrize("initialization", ["profile", "estimated", "heuristic"])
def test_holt_winters_either_initialization_follows_the_daily_cycle(initialization: str) -> None:
    forecaster = build_forecaster(settings("holt-winters", initialization=initialization))
    end = 3 * DAY
    point = forecaster.predict(SERIES[:end], end * BUCKET_S, HORIZON)
    assert point.method == "holt-winters" and point.note == ""
    actual = SERIES[end : end + HORIZON]
    assert np.mean(np.abs(point.mean - actual) / actual) < 0.05


def test_profile_start_worked_number() -> None:
    from autoscaler.forecast.holt_winters import _profile_start

    start = _profile_start(np.array([90.0, 110.0, 100.0, 120.0]), period=2)
    assert (start["initial_level"], start["initial_trend"]) == (100.0, 5.0)
    np.testing.assert_array_equal(start["initial_seasonal"], [-10.0, 10.0])


@pytest.mark.parametrize("kind", POOLED_KINDS)
def test_a_first_fit_the_pool_failed_is_not_queued_again_for_an_hour(kind: str) -> None:
    forecaster = pooled(kind)
    end = 3 * DAY
    assert forecaster.refit_due(SERIES[:end], end * BUCKET_S)
    forecaster.fit_failed(end * BUCKET_S)
    hour = int(3600 / BUCKET_S)
    waiting = [forecaster.refit_due(SERIES[: end + k], (end + k) * BUCKET_S) for k in range(hour)]
    assert not any(waiting)
    assert forecaster.refit_due(SERIES[: end + hour], (end + hour) * BUCKET_S)


@pytest.mark.parametrize("kind", ["sarimax", "mstl", "kalman"])
def test_a_fit_that_diverges_waits_like_a_failed_first_fit(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A state whose projection is non-finite is dropped; without a back-off the next call
    # fitted again (inline: a statsmodels fit at every decision; pooled: every pass).
    forecaster = build_forecaster(settings(kind))
    fits = 0
    real_fit = type(forecaster).fit

    def counted_fit(self: object, *args: object) -> object:
        nonlocal fits
        fits += 1
        return real_fit(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(type(forecaster), "fit", counted_fit)
    monkeypatch.setattr(
        type(forecaster), "project", lambda self, state, idx: np.full(idx.size, np.nan)
    )
    end = 3 * DAY
    retry = int(min(3600.0, forecaster.settings.refit_every_s) / BUCKET_S)
    points = [
        forecaster.predict(SERIES[: end + k], (end + k) * BUCKET_S, HORIZON) for k in range(retry)
    ]
    assert fits == 1
    assert "diverged" in points[0].note
    assert all(p.method == "last-value" for p in points)
    np.testing.assert_allclose(points[-1].mean, SERIES[end + retry - 2])
    assert not forecaster.refit_due(SERIES[: end + retry - 1], (end + retry - 1) * BUCKET_S)
    assert forecaster.refit_due(SERIES[: end + retry], (end + retry) * BUCKET_S)
