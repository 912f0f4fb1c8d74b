"""The Window: absolute-time buckets of mean demand, gaps as NaN, only complete buckets out."""

from __future__ import annotations

import numpy as np
import pytest

from autoscaler.window import Window
from tests.fakes import observation


def _prompt(window: Window, now_s: float) -> tuple[list[float], float]:
    values, end_s = window.complete(now_s)
    return values[0].tolist(), end_s


def test_bucket_holds_mean_of_its_samples_for_each_series() -> None:
    window = Window(bucket_s=60, history_s=600)
    window.add(observation(0, prompt=100, generation=10))
    window.add(observation(15, prompt=200, generation=20))
    window.add(observation(59.9, prompt=600, generation=60))
    values, end_s = window.complete(60)
    assert end_s == 60
    np.testing.assert_allclose(values, [[300.0], [30.0]])


def test_buckets_are_aligned_to_absolute_time() -> None:
    # Samples at 130 s and 170 s fall in bucket [120, 180), 190 s in [180, 240).
    window = Window(bucket_s=60, history_s=600)
    for t_s, prompt in [(130, 10), (170, 30), (190, 50)]:
        window.add(observation(t_s, prompt))
    values, end_s = _prompt(window, 245)
    assert end_s == 240
    assert values == [20.0, 50.0]


def test_filling_bucket_is_left_out() -> None:
    window = Window(bucket_s=60, history_s=600)
    window.add(observation(10, 100))
    window.add(observation(70, 5))  # bucket [60, 120) is still filling at 100 s
    values, end_s = _prompt(window, 100)
    assert (values, end_s) == ([100.0], 60)


def test_empty_window_has_no_buckets() -> None:
    window = Window(bucket_s=60, history_s=600)
    values, end_s = window.complete(125)
    assert values.shape == (2, 0)
    assert end_s == 120
    window.add(observation(130, 1))  # only the filling bucket has data
    assert window.complete(150)[0].shape == (2, 0)


def test_missing_bucket_is_nan_not_zero() -> None:
    window = Window(bucket_s=60, history_s=600)
    window.add(observation(0, 10))
    window.add(observation(150, 30))  # nothing in [60, 120)
    values, _ = _prompt(window, 180)
    assert values[0] == 10 and values[2] == 30
    assert np.isnan(values[1])


def test_silence_after_last_sample_becomes_nan_buckets() -> None:
    window = Window(bucket_s=60, history_s=600)
    window.add(observation(0, 10))
    window.add(observation(60, 20))
    values, end_s = _prompt(window, 300)
    assert end_s == 300
    assert values[:2] == [10.0, 20.0]
    assert np.isnan(values[2:]).all() and len(values) == 5


def test_silence_longer_than_history_is_all_nan() -> None:
    window = Window(bucket_s=60, history_s=300)
    for b in range(5):
        window.add(observation(b * 60, 7))
    values, end_s = _prompt(window, 3600)
    assert end_s == 3600 and len(values) == 5
    assert np.isnan(values).all()


def test_ring_wrap_keeps_only_history() -> None:
    window = Window(bucket_s=60, history_s=300)  # five buckets
    for b in range(12):
        window.add(observation(b * 60 + 1, float(b)))
    values, end_s = _prompt(window, 12 * 60)
    assert end_s == 720
    assert values == [7.0, 8.0, 9.0, 10.0, 11.0]


def test_sample_after_long_gap_does_not_resurrect_old_buckets() -> None:
    window = Window(bucket_s=60, history_s=300)
    for b in range(5):
        window.add(observation(b * 60, 1.0))
    window.add(observation(20 * 60, 9.0))  # 16 buckets later: the ring is cleared
    values, _ = _prompt(window, 21 * 60)
    assert np.isnan(values[:4]).all()
    assert values[4] == 9.0


def test_ring_wrap_with_a_filling_bucket_keeps_old_data_out() -> None:
    window = Window(bucket_s=60, history_s=300)  # five buckets
    for b in range(10):
        window.add(observation(b * 60, float(b)))
    window.add(observation(550, 99.0))  # bucket 9, [540, 600), is now filling
    values, end_s = _prompt(window, 570)
    assert end_s == 540
    # Buckets 5..8 for sure; bucket 4 as 4.0, as a gap, or dropped. Never the filling
    # bucket's partial mean 54 = (9 + 99) / 2 posing as bucket 4.
    assert values[-4:] == [5.0, 6.0, 7.0, 8.0]
    assert len(values) == 4 or values[0] == 4.0 or np.isnan(values[0])


def test_out_of_order_sample_is_rejected_and_counted() -> None:
    window = Window(bucket_s=60, history_s=600)
    assert window.add(observation(100, 10))
    assert not window.add(observation(50, 999))
    assert not window.add(observation(99.9, 999))
    assert window.add(observation(100, 30))  # same instant is not out of order
    assert window.rejected_out_of_order == 2
    assert window.latest is not None and window.latest.prompt_tokens_per_s == 30
    values, _ = _prompt(window, 120)
    assert values == [20.0]


@pytest.mark.parametrize(
    ("bucket_s", "history_s"),
    [(0, 60), (-1, 60), (60, 30)],
    ids=["zero-bucket", "negative-bucket", "history-shorter-than-bucket"],
)
def test_bad_geometry_is_rejected(bucket_s: float, history_s: float) -> None:
    with pytest.raises(ValueError, match="bucket_s"):
        Window(bucket_s=bucket_s, history_s=history_s)


def test_previous_is_the_sample_before_latest_and_survives_a_resize() -> None:
    window = Window(bucket_s=60, history_s=600)
    window.add(observation(10, 100, waiting=5))
    window.add(observation(25, 100, waiting=9))
    window.add(observation(25, 100, waiting=11))  # same instant: replaces latest only
    assert window.previous is not None and window.previous.t_s == 10
    assert window.latest is not None and window.latest.requests_waiting == 11
    resized = window.resized(30, 600, 40.0)
    assert resized.previous == window.previous and resized.latest == window.latest


def test_a_resize_keeps_the_filling_bucket_as_demand_not_as_served() -> None:
    # Served 1,000 tok/s, of which 500 arrived (the rest drained a queue): the history holds
    # 500. After bucket_s 60 -> 30 the bucket still filling must still say 500.
    window = Window(bucket_s=60, history_s=3600)
    for t_s in range(0, 615, 15):
        window.add(observation(float(t_s), 1000.0, 100.0), demand=(500.0, 50.0))
    resized = window.resized(30, 3600, 615.0)
    values, _ = resized.complete(630.0)
    np.testing.assert_allclose(values[:, -1], [500.0, 50.0])
    np.testing.assert_allclose(values[:, -2], [500.0, 50.0])
