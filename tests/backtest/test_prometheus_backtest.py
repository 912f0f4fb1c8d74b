"""`prewarm backtest --prometheus` against a real Prometheus back-filled with vLLM counters.

Six hours of one model at 15 s scrapes (fixed 2023 times, nothing depends on the wall
clock): 100 prompt + 20 generation tok/s for three hours, then 300 + 60. Another model's
series must not leak in. Without prometheus/promtool the test skips; with CI=true it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from autoscaler.backtest.prometheus import load_prometheus
from tests.backtest.cli_helpers import prewarm, read_json
from tests.integration.prometheus_server import PrometheusFactory, Sample

T0 = 1_700_000_040.0  # a whole minute, so buckets and scrapes line up
SPAN_S = 6 * 3600.0
STEP_UP_S = T0 + 3 * 3600


def counters() -> Iterator[Sample]:
    labels = {"model_name": "llama", "pod": "p1", "engine": "0"}
    other = {"model_name": "llama-70b", "pod": "q1", "engine": "0"}
    prompt = gen = 0.0
    for i in range(int(SPAN_S / 15) + 1):
        t = T0 + i * 15
        if i:
            fast = t > STEP_UP_S
            prompt += 15 * (300.0 if fast else 100.0)
            gen += 15 * (60.0 if fast else 20.0)
        yield Sample("vllm:prompt_tokens_total", labels, prompt, t)
        yield Sample("vllm:generation_tokens_total", labels, gen, t)
        yield Sample("vllm:prompt_tokens_total", other, 1e6 * i, t)


@pytest.fixture
def prometheus_url(prometheus_factory: PrometheusFactory) -> str:
    return prometheus_factory(history=counters()).url


def test_loader_reads_the_models_token_rate_per_bucket(prometheus_url: str) -> None:
    series = load_prometheus(
        prometheus_url, "llama", end_s=T0 + SPAN_S, lookback_s=SPAN_S, bucket_s=60
    )
    assert series.unit == "tokens/s" and series.bucket_s == 60
    assert series.start_s % 60 == 0  # aligned like the Window
    assert series.n_buckets == 360
    middle = round((STEP_UP_S - series.start_s) / 60)
    np.testing.assert_allclose(series.values[5 : middle - 1], 120.0, rtol=1e-6)
    np.testing.assert_allclose(series.values[middle + 1 :], 360.0, rtol=1e-6)


def test_backtest_from_prometheus(prometheus_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = prewarm(
        "backtest", "--prometheus", prometheus_url, "--model", "llama",
        "--end-s", str(T0 + SPAN_S), "--lookback-s", str(SPAN_S), "--horizon-s", "300",
        "--forecasters", "last-value", "--warmup-s", "3600", "--out", str(out), "--no-plots",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = read_json(out / "backtest.json")
    assert doc["series"]["buckets"] == 360 and doc["horizon_steps"] == 5
    scores = doc["forecasters"]["last-value"]
    # Flat demand except one step: last-value is exact but for the 5 origins before it.
    assert 0 < scores["wape"] < 0.02
    assert scores["under_provisioned_fraction"] == pytest.approx(5 / 296, abs=2 / 296)


def test_unreachable_prometheus_exits_2(tmp_path: Path) -> None:
    result = prewarm(
        "backtest", "--prometheus", "http://127.0.0.1:9", "--model", "llama",
        "--end-s", str(T0), "--lookback-s", "3600", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Prometheus at http://127.0.0.1:9: cannot connect" in result.output
