"""ConformalUpper: upper quantiles from the forecaster's own out-of-sample relative errors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from autoscaler.forecast.conformal import MIN_ERRORS, ConformalUpper, _local_volatility
from autoscaler.forecast.forecast import Forecast, PointForecast
from tests.fakes import ScriptedForecaster

BUCKET_S = 60.0
SPREAD_NOTE = "quantile from history spread"


def _wrap(forecaster: ScriptedForecaster, quantile: float = 0.95) -> ConformalUpper:
    return ConformalUpper(forecaster, quantile=quantile, bucket_s=BUCKET_S, error_window_s=86400.0)


def _replay(
    upper: ConformalUpper, actuals: np.ndarray, start: int, steps: int, keep: int = 1440
) -> list[tuple[int, Forecast]]:
    """Forecast at every origin from `start` on, history sliding with the actuals."""
    out = []
    for origin in range(start, actuals.size - steps + 1):
        history = actuals[max(0, origin - keep) : origin]
        out.append((origin, upper.forecast(history, origin * BUCKET_S, steps)))
    return out


def _scaled_truth(level: np.ndarray, factor: float) -> Callable[[float, int], np.ndarray]:
    """Means that are `factor` x the true level of each forecast bucket."""

    def means(end_s: float, steps: int) -> np.ndarray:
        origin = int(round(end_s / BUCKET_S))
        return factor * level[origin : origin + steps]

    return means


@pytest.mark.parametrize("quantile", [0.8, 0.9, 0.95], ids=["p80", "p90", "p95"])
def test_upper_covers_its_quantile_for_a_forecaster_ten_percent_low(quantile: float) -> None:
    rng = np.random.default_rng(7)
    n, steps, warmup = 3600, 3, 300
    t_s = np.arange(n) * BUCKET_S
    level = 1000.0 + 500.0 * np.sin(2 * np.pi * t_s / 86400.0)
    actuals = level * (1.0 + rng.normal(0.0, 0.05, n))
    upper = _wrap(ScriptedForecaster(_scaled_truth(level, 0.9)), quantile)
    made = [(o, f) for o, f in _replay(upper, actuals, 10, steps) if o >= warmup]

    for step in range(steps):
        actual = np.array([actuals[o + step] for o, _ in made])
        covered_by_upper = np.mean(actual <= [f.upper[step] for _, f in made])
        covered_by_mean = np.mean(actual <= [f.mean[step] for _, f in made])
        assert abs(covered_by_upper - quantile) < 0.03, (step, covered_by_upper)
        assert covered_by_mean < 0.1  # the bias is real: the mean alone covers ~2 %
    assert all(SPREAD_NOTE not in f.note for _, f in made)


def test_worked_number_upper_is_mean_plus_error_quantile() -> None:
    # Predicted 1,000 tok/s, every past error +0.12 (actual 1,120) -> upper 1,120.
    actuals = np.full(200, 1120.0)
    upper = _wrap(ScriptedForecaster(1000.0))
    made = _replay(upper, actuals, 10, steps=6)
    _, last = made[-1]
    np.testing.assert_allclose(last.mean, 1000.0)
    np.testing.assert_allclose(last.upper, 1120.0, rtol=1e-3)  # errors are stored as float16
    assert last.note == ""


def test_before_enough_errors_the_quantile_comes_from_history_spread() -> None:
    # A flat history has no spread, so the 10 % floor applies, widened by sqrt(step):
    # upper_k = 1,000 x (1 + 0.10 x sqrt(k)) for k = 1, 2, 3.
    actuals = np.full(200, 1000.0)
    upper = _wrap(ScriptedForecaster(1000.0))
    made = _replay(upper, actuals, 10, steps=3)
    first = made[0][1]
    np.testing.assert_allclose(first.upper, 1000.0 * (1 + 0.10 * np.sqrt([1.0, 2.0, 3.0])))
    # Each call scores at most one new bucket, so the first MIN_ERRORS calls cannot be calibrated.
    for _, f in made[:MIN_ERRORS]:
        assert SPREAD_NOTE in f.note
    for _, f in made[MIN_ERRORS + 10 :]:
        assert f.note == ""
        np.testing.assert_allclose(f.upper, 1000.0)  # a perfect forecaster earns no margin


def test_note_keeps_the_forecasters_own_note() -> None:
    upper = _wrap(ScriptedForecaster(5.0, note="fell back"))
    result = upper.forecast(np.full(10, 5.0), 600.0, 2)
    assert result.note.startswith("fell back; ") and SPREAD_NOTE in result.note


@pytest.mark.parametrize(
    "factor", [1.2, 0.9, None], ids=["always-high", "always-low", "random-bias"]
)
def test_upper_is_never_below_mean(factor: float | None) -> None:
    rng = np.random.default_rng(11)
    n = 600
    level = 200.0 + 150.0 * np.sin(np.arange(n) / 50.0)
    actuals = level * (1.0 + rng.normal(0.0, 0.1, n))
    biases = rng.uniform(0.5, 1.5, n) if factor is None else np.full(n, factor)
    upper = _wrap(ScriptedForecaster(_scaled_truth(level * biases, 1.0)))
    for _, f in _replay(upper, actuals, 5, steps=4):
        assert np.all(f.upper >= f.mean)
        assert np.all(f.mean >= 0)


def test_negative_means_are_clipped_to_zero() -> None:
    upper = _wrap(ScriptedForecaster([-5.0, 3.0]))
    result = upper.forecast(np.full(10, 4.0), 600.0, 2)
    np.testing.assert_array_equal(result.mean, [0.0, 3.0])
    assert np.all(result.upper >= result.mean)


def test_near_zero_prediction_errors_are_scaled_by_the_floor() -> None:
    # Predicting 0 while 100 tok/s arrive: relative errors use the floor 0.1 x 100 = 10,
    # so each error is +10 and the calibrated upper is 0 + 10 x 10 = 100.
    actuals = np.full(200, 100.0)
    upper = _wrap(ScriptedForecaster(0.0))
    _, last = _replay(upper, actuals, 10, steps=2)[-1]
    np.testing.assert_allclose(last.upper, 100.0)
    assert last.note == ""


class _SwitchingForecaster:
    """Answers 'last-value' at half the true level until `real_from`, then 'real' at the true
    level; during `relapse` origins it falls back to 'last-value' again."""

    def __init__(self, level: np.ndarray, real_from: int, relapse: range = range(0)) -> None:
        self.level, self.real_from, self.relapse = level, real_from, relapse

    def predict(self, history: np.ndarray, end_s: float, horizon_steps: int) -> PointForecast:
        origin = int(round(end_s / BUCKET_S))
        truth = self.level[origin : origin + horizon_steps]
        if origin < self.real_from or origin in self.relapse:
            return PointForecast(0.5 * truth, "last-value", "too short")
        return PointForecast(truth.copy(), "real")


def test_a_forecaster_leaving_its_fallback_is_calibrated_on_its_own_errors() -> None:
    rng = np.random.default_rng(3)
    n, steps, real_from = 600, 3, 200
    level = np.full(n, 1000.0)
    actuals = level * (1.0 + rng.normal(0.0, 0.05, n))
    made = dict(_replay(_wrap(_SwitchingForecaster(level, real_from)), actuals, 5, steps))

    assert SPREAD_NOTE not in made[real_from - 1].note  # the fallback's errors calibrated it
    assert SPREAD_NOTE in made[real_from].note  # a new method: its own evidence first
    settled = made[real_from + MIN_ERRORS + steps + 1]
    assert SPREAD_NOTE not in settled.note
    # The real method is within ~5 %: its p95 band is ~8 %, not the fallback's ~100 %.
    assert 0.03 < settled.upper[0] / settled.mean[0] - 1 < 0.15


def test_a_brief_relapse_to_a_known_fallback_keeps_the_evidence() -> None:
    rng = np.random.default_rng(4)
    n, steps, real_from = 600, 3, 100
    level = np.full(n, 1000.0)
    actuals = level * (1.0 + rng.normal(0.0, 0.05, n))
    relapse = range(300, 305)
    upper = _wrap(_SwitchingForecaster(level, real_from, relapse))
    made = dict(_replay(upper, actuals, 5, steps))
    assert all(SPREAD_NOTE not in made[o].note for o in range(250, 400))


def test_a_miss_beyond_float16s_range_is_stored_capped_not_infinite() -> None:
    # A model at a trickle of 0.001 tok/s has a scale floor of 1e-4; demand arriving is then
    # a relative miss of ~1e7, past float16's 65,504. Stored as inf it would stay in the ring
    # for a day and could turn the quantile infinite; stored capped, it stays evidence.
    actuals = np.full(200, 0.001)
    actuals[100:] = 1000.0
    upper = _wrap(ScriptedForecaster(0.0))
    made = _replay(upper, actuals, 10, steps=3, keep=100)
    stored = upper._errors[: upper._next_row]
    assert np.isfinite(stored).all()
    assert stored.max() == pytest.approx(1000.0)  # the cap
    assert all(np.isfinite(f.upper).all() for _, f in made)


def test_a_longer_horizon_restarts_calibration_instead_of_answering_nan() -> None:
    # A profile reload with a longer cold start asks the same forecaster for more steps.
    actuals = np.full(400, 1120.0)
    upper = _wrap(ScriptedForecaster(1000.0))
    _replay(upper, actuals[:200], 10, steps=3)
    made = [
        f
        for origin in range(200, 400 - 6)
        for f in [upper.forecast(actuals[origin - 100 : origin], origin * BUCKET_S, 6)]
    ]
    assert all(np.isfinite(f.upper).all() for f in made)
    np.testing.assert_allclose(made[-1].upper, 1120.0, rtol=1e-3)


def test_a_shorter_horizon_keeps_its_errors_and_keeps_calibrating() -> None:
    # A profile reload with a shorter cold start asks the same forecaster for fewer steps.
    # The ring was 6 steps wide; rows of 3 steps must still be stored, or the upper would
    # stay at the old +12 % forever while the forecaster now misses by 30 %.
    actuals = np.concatenate([np.full(200, 1120.0), np.full(300, 1300.0)])
    upper = _wrap(ScriptedForecaster(1000.0))
    _replay(upper, actuals[:200], 10, steps=6)
    right_after = upper.forecast(actuals[100:200], 200 * BUCKET_S, 3)
    assert SPREAD_NOTE not in right_after.note  # the first 3 steps' errors still apply
    np.testing.assert_allclose(right_after.upper, 1120.0, rtol=1e-3)
    made = [
        upper.forecast(actuals[origin - 100 : origin], origin * BUCKET_S, 3)
        for origin in range(201, 500 - 3)
    ]
    np.testing.assert_allclose(made[-1].upper, 1300.0, rtol=1e-3)


class _HoldLast:
    """Holds the newest value, as last-value does."""

    def predict(self, history: np.ndarray, end_s: float, horizon_steps: int) -> PointForecast:
        return PointForecast(np.full(horizon_steps, history[-1]), "hold")


def _on_off(n: int, period: int, seed: int) -> np.ndarray:
    """Half an hour at ~1,000 tok/s, half an hour at 0, repeated."""
    rng = np.random.default_rng(seed)
    on = (np.arange(n) // period) % 2 == 1
    return np.where(on, 1000.0 + rng.normal(0.0, 20.0, n), 0.0)


def test_on_off_traffic_is_calibrated_per_regime_not_pooled() -> None:
    # Pooled, the switch-on misses of the "off" forecasts (+1,000 / floor 50 = +20) set the
    # quantile for the "on" forecasts too: upper ~21,000 tok/s for a 1,000 tok/s model.
    steps, period = 5, 30
    actuals = _on_off(2 * 1440, period, seed=0)
    made = dict(_replay(_wrap(_HoldLast()), actuals, 10, steps, keep=60))
    scored = [o for o in made if o >= 1440]

    steady_on = [o for o in scored if actuals[o - 1] > 0 and (actuals[o - 1 : o + steps] > 0).all()]
    uppers_on = np.array([made[o].upper[-1] for o in steady_on])
    assert np.median(uppers_on) < 1100.0
    # While off, the upper still covers the switch-on that comes within the horizon.
    off = [o for o in scored if actuals[o - 1] == 0]
    assert np.median([made[o].upper[-1] for o in off]) == pytest.approx(1000.0, rel=0.1)
    covered = np.mean([actuals[o + steps - 1] <= made[o].upper[-1] for o in scored])
    assert abs(covered - 0.95) < 0.02


def test_a_group_with_too_few_errors_borrows_the_pooled_quantile() -> None:
    # A steady model forecast at its level for 200 buckets, then one forecast below its
    # level: that group has no evidence of its own, so the pooled errors (+12 %) apply.
    actuals = np.full(300, 1120.0)
    means = np.full(300, 1120.0 / 1.12)
    upper = _wrap(ScriptedForecaster(lambda end_s, steps: means[:steps]))
    _replay(upper, actuals[:200], 10, steps=2)
    below_level = upper.forecast(np.full(100, 5000.0), 200 * BUCKET_S, 2)
    assert SPREAD_NOTE not in below_level.note
    np.testing.assert_allclose(below_level.upper, below_level.mean * 1.12, rtol=1e-3)


def test_a_shorter_horizon_keeps_each_errors_group() -> None:
    steps, period = 5, 30
    actuals = _on_off(1440, period, seed=1)
    upper = _wrap(_HoldLast())
    _replay(upper, actuals[:1000], 10, steps, keep=60)
    after = [
        (origin, upper.forecast(actuals[origin - 60 : origin], origin * BUCKET_S, 2))
        for origin in range(1000, 1200)
    ]
    steady_on = [f for o, f in after if (actuals[o - 1 : o + 2] > 0).all()]
    assert steady_on and all(f.upper[-1] < 1.1 * f.mean[-1] for f in steady_on)


def test_a_small_error_window_still_covers_its_quantile() -> None:
    # 40 errors: their plain 95th percentile covers ~93 % of the next error (rank 38.05 of
    # 41); split conformal's level ceil(41 x 0.95) / 40 covers 95 %.
    rng = np.random.default_rng(5)
    n, warmup = 6000, 100
    actuals = 1000.0 * (1.0 + rng.normal(0.0, 0.05, n))
    upper = ConformalUpper(
        ScriptedForecaster(1000.0), quantile=0.95, bucket_s=BUCKET_S, error_window_s=40 * BUCKET_S
    )
    made = [(o, f) for o, f in _replay(upper, actuals, 10, 1, keep=60) if o >= warmup]
    covered = np.mean([actuals[o] <= f.upper[0] for o, f in made])
    assert abs(covered - 0.95) < 0.01, covered


def test_demand_arriving_after_an_idle_hour_does_not_inflate_the_upper() -> None:
    # Two idle hours, then 500 tok/s. Scored against a scale floor of 1e-6, the misses of
    # the idle forecasts were capped at 1,000 and put every later upper at ~500,000 tok/s
    # for a day (a simulation asked for 64 replicas where 3 served).
    rng = np.random.default_rng(2)
    actuals = np.zeros(600)
    actuals[120:] = 500.0 * (1.0 + rng.normal(0.0, 0.05, 480))
    made = dict(_replay(_wrap(_HoldLast()), actuals, 10, steps=5, keep=60))
    after = [made[o] for o in range(125, 595)]
    assert all(f.upper[-1] < 3 * f.mean[-1] for f in after), max(
        f.upper[-1] / f.mean[-1] for f in after
    )
    calibrated = [f for f in after[200:] if SPREAD_NOTE not in f.note]
    assert calibrated and all(f.upper[-1] < 1.3 * f.mean[-1] for f in calibrated)


def test_a_forecaster_slow_to_follow_demand_out_of_idle_keeps_a_bounded_upper() -> None:
    # Holt-Winters after two idle hours follows 500 tok/s over about an hour. Its first
    # forecasts (~0) scored against the first minutes of traffic (a level of ~8) were misses
    # of hundreds; applied to later forecasts they made uppers of ~21,000 tok/s here (and
    # ~500,000 in a simulation). Scored only once traffic has a yardstick: ~2,000 at worst.
    rng = np.random.default_rng(9)
    jump = 120
    actuals = np.zeros(600)
    actuals[jump:] = 500.0 * (1.0 + rng.normal(0.0, 0.05, 600 - jump))

    def lagging(end_s: float, steps: int) -> np.ndarray:
        origin = int(round(end_s / BUCKET_S))
        return np.full(steps, 500.0 * min(1.0, max(0, origin - jump) / 60))

    made = dict(_replay(_wrap(ScriptedForecaster(lagging)), actuals, 10, steps=5, keep=120))
    worst = max(made[o].upper.max() for o in range(jump, 595))
    assert worst < 5 * 500.0, worst


@pytest.mark.parametrize("quantile", [0.9, 0.95], ids=["p90", "p95"])
def test_the_horizon_peak_is_covered_at_its_quantile_where_the_step_maximum_is_short(
    quantile: float,
) -> None:
    """Rare spikes (3 % of buckets, +50 %) hide under every step's quantile, yet one lands in
    a 6-step horizon 17 % of the time: the largest per-step upper covers the peak ~83 %,
    the calibrated peak at its quantile."""
    rng = np.random.default_rng(11)
    n, steps, warmup = 4000, 6, 400
    actuals = np.where(rng.random(n) < 0.03, 1500.0, 1000.0) * (1 + rng.normal(0, 0.01, n))
    upper = _wrap(ScriptedForecaster(1000.0), quantile)
    made = [(o, f) for o, f in _replay(upper, actuals, 10, steps) if o >= warmup]

    peaks = np.array([actuals[o : o + steps].max() for o, _ in made])
    step_maximum = np.array([f.upper.max() for _, f in made])
    plan_peak = np.array([f.horizon_peak(1e18) for _, f in made])
    assert all(f.calibrated_peak is not None for _, f in made)
    assert np.mean(peaks <= step_maximum) < quantile - 0.05
    assert abs(np.mean(peaks <= plan_peak) - quantile) < 0.03


def test_the_peak_falls_back_to_the_step_maximum_until_peaks_were_seen() -> None:
    upper = _wrap(ScriptedForecaster(1000.0))
    first = upper.forecast(np.full(20, 1000.0), 20 * BUCKET_S, 6)
    assert first.calibrated_peak is None
    assert first.horizon_peak(1e18) == pytest.approx(first.upper.max())


def _margins_and_coverage(
    calm: np.ndarray, noise: tuple[float, float], quantile: float = 0.9
) -> tuple[tuple[float, float], tuple[float, float]]:
    """For the `calm` buckets and the others, the median step-1 margin and the share of
    actuals the step-1 upper covered, for a forecaster right on a level of 1,000 with
    `noise` (calm, other). Counted after the first day, from 90 buckets into each 240-bucket
    block (the volatility reads the last 60)."""
    rng = np.random.default_rng(3)
    actuals = 1000.0 * (1.0 + rng.normal(0.0, 1.0, calm.size) * np.where(calm, *noise))
    upper = _wrap(ScriptedForecaster(1000.0), quantile)
    made = [
        (bool(calm[o]), f.upper[0] - f.mean[0], actuals[o] <= f.upper[0])
        for o, f in _replay(upper, actuals, 10, steps=3)
        if o >= 1440 and o % 240 >= 90
    ]

    def stats(regime: bool) -> tuple[float, float]:
        margins = [m for c, m, _ in made if c == regime]
        return float(np.median(margins)), float(np.mean([v for c, _, v in made if c == regime]))

    return stats(True), stats(False)


def test_the_margin_follows_the_local_volatility() -> None:
    # 4 h calm (2 % noise) and 4 h hectic (10 %) in turn. One margin for both (~82 tok/s)
    # covered the calm hours always and the hectic ones 80 % of the time at p90; scaled by
    # the volatility it is ~25 in the calm (1.28 x 20 is 26) and ~126 in the hectic hours
    # (1.28 x 100 is 128), and each regime is covered at close to 90 %.
    blocks = np.arange(2880) // 240
    calm, hectic = _margins_and_coverage(blocks % 2 == 0, (0.02, 0.10))
    assert calm[0] < 0.4 * hectic[0]
    assert abs(calm[1] - 0.9) < 0.05 and abs(hectic[1] - 0.9) < 0.05


def test_a_calm_spell_does_not_shrink_the_margin_to_nothing() -> None:
    # 4 h in every 16 with 0.1 % noise, 1/100 of the usual volatility: the margin stops at
    # ~0.4 of the usual one (~56 vs ~131 tok/s; the floor of _VOLATILITY_RANGE) instead of
    # following it down to ~1 tok/s, which the first hectic bucket after the spell would miss.
    blocks = np.arange(2880) // 240
    calm, usual = _margins_and_coverage(blocks % 4 == 0, (0.001, 0.10))
    assert calm[0] > 0.3 * usual[0]


def test_worked_number_local_volatility_leaves_out_the_hours_largest_changes() -> None:
    # 100, 102, 100, ... : changes of ~2 %. Two one-bucket bursts to 250 add four changes
    # (+1.45 and -0.6 each) that would make the mean 0.087; they are left out: still 0.020.
    history = np.tile([100.0, 102.0], 31)[:61]
    assert _local_volatility(history, level=101.0) == pytest.approx(0.0198, abs=1e-4)
    history[[20, 40]] = 250.0
    assert _local_volatility(history, level=101.0) == pytest.approx(0.0198, abs=1e-4)
    assert np.isnan(_local_volatility(np.array([100.0, np.nan, 110.0, 120.0]), level=105.0))
