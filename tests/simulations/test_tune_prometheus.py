"""`prewarm tune --prometheus URL --model M` against a real Prometheus back-filled with vLLM
counters (the integration fixture: without prometheus/promtool it skips, under CI=true it
fails). Six hours of one model at 15 s scrapes: 100 prompt + 20 generation tok/s for three
hours, then 300 + 60; another model's series must not leak in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from autoscaler.profile import TypicalRequest, load_profile
from prewarm_cli.inputs import BUNDLED_PROFILE
from simulations.traces.rate_series import load_rate_series
from simulations.tune.prometheus_history import fetch_history
from tests.backtest.cli_helpers import prewarm
from tests.backtest.test_prometheus_backtest import SPAN_S, STEP_UP_S, T0, counters
from tests.integration.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    prometheus_binary,
    prometheus_factory,
    promtool_binary,
)
from tests.integration.prometheus_server import PrometheusFactory


@pytest.fixture
def prometheus_url(prometheus_factory: PrometheusFactory) -> str:  # noqa: F811
    return prometheus_factory(history=counters()).url


def test_history_becomes_a_rate_series_of_the_models_tokens(
    prometheus_url: str, tmp_path: Path
) -> None:
    typical = TypicalRequest(prompt_tokens=2000.0, output_tokens=200.0)
    history = fetch_history(
        prometheus_url, "llama", tmp_path / "h.csv", end_s=T0 + SPAN_S, lookback_s=SPAN_S,
        typical=typical,
    )  # fmt: skip
    assert history.rows == 360 and history.gaps == 0
    assert history.requests_from == "typical_request.prompt_tokens"  # no request counter
    series = load_rate_series(history.path)
    assert series.input_tokens_per_s is not None and series.output_tokens_per_s is not None
    middle = round((STEP_UP_S - history.start_s) / 60)
    np.testing.assert_allclose(series.input_tokens_per_s[5 : middle - 1], 100.0, rtol=1e-6)
    np.testing.assert_allclose(series.output_tokens_per_s[middle + 1 :], 60.0, rtol=1e-6)
    # Requests from the prompt rate over the typical prompt: 300 / 2000 after the step.
    np.testing.assert_allclose(series.rate_rps[middle + 1 :], 0.15, rtol=1e-6)


def test_tune_replays_the_prometheus_history(prometheus_url: str, tmp_path: Path) -> None:
    # Lognormal request sizes around a 2,048-token prompt put ~3 % of first tokens past
    # 2 s whatever the fleet: a 95 % target is one these candidates can meet.
    profile = tmp_path / "llama.yaml"
    data = yaml.safe_load(BUNDLED_PROFILE.read_text())
    profile.write_text(yaml.safe_dump({**data, "ttft_slo_attainment": 0.95}))
    out = tmp_path / "out"
    result = prewarm(
        "tune", "--prometheus", prometheus_url, "--model", "llama", "--profile", str(profile),
        "--end-s", str(T0 + SPAN_S), "--lookback-s", str(SPAN_S), "--warmup-s", "3600",
        "--space", "given", "--choices", "target_utilisation=0.7,0.9", "--workers", "1",
        "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "tune.json").read_text())
    assert doc["trace"]["fmt"] == "rate" and doc["trace"]["path"] == str(out / "history.csv")
    assert len(doc["trials"]) == 2
    # ~6 h of ~0.05-0.15 requests/s, synthesised as Poisson arrivals (seed 0).
    assert 1000 < doc["trace"]["requests"] < 3000
    assert doc["pick"]["meets_slo"]
    assert load_profile(out / "profile.yaml").target_utilisation in (0.7, 0.9)
    assert "requests/s from typical_request.prompt_tokens" in " ".join(result.output.split())


def test_a_model_prometheus_has_no_samples_for_exits_2(prometheus_url: str, tmp_path: Path) -> None:
    result = prewarm(
        "tune", "--prometheus", prometheus_url, "--model", "nobody",
        "--end-s", str(T0 + SPAN_S), "--lookback-s", str(SPAN_S), "--out", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "model_name='nobody': no samples" in " ".join(result.output.split())
