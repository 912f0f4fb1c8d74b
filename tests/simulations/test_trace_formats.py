"""The one registry of trace formats: every command takes every format, and ServeGen replays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from autoscaler.clock import ManualClock
from prewarm_cli.emulate import build_fleet
from prewarm_cli.main import app
from simulations.traces.formats import (
    FORMAT_HELP,
    FORMAT_NAMES,
    FORMATS,
    RATE_FORMATS,
    REQUEST_FORMATS,
    TraceFormat,
    trace_format,
)
from simulations.traces.loader import load_trace
from simulations.traces.rate_series import SAFETY_LIMIT
from simulations.traces.servegen import servegen_rate_series
from tests.simulations.format_samples import SAMPLES, SERVEGEN_HEADER, write_sample

RUNNER = CliRunner()

# What each command needs besides --trace/--format to run quickly on a sample.
COMMANDS = {
    "simulate": ["--policies", "static,oracle", "--cold-start-s", "60"],
    "sweep": ["--policies", "oracle", "--workers", "1", "--warmup-s", "1800"],
    "backtest": ["--forecasters", "last-value", "--no-plots", "--horizon-s", "600"],
    "tune": ["--forecasters", "last-value", "--quantiles", "0.9", "--horizon-s", "600"],
}


def test_the_registry_is_one_partition_with_a_sample_per_format() -> None:
    assert set(SAMPLES) == set(FORMAT_NAMES)  # a new format needs a sample here
    assert set(RATE_FORMATS) | set(REQUEST_FORMATS) == set(FORMAT_NAMES)
    assert not set(RATE_FORMATS) & set(REQUEST_FORMATS)
    assert FORMAT_NAMES == ("azure", "mooncake", "burstgpt", "rate", "servegen", "azure2024")
    assert " | ".join(FORMAT_NAMES) == FORMAT_HELP
    for name, spec in FORMATS.items():
        assert spec.name == name and spec.description
    with pytest.raises(ValueError, match="unknown --format 'csv'; choose from azure, mooncake"):
        trace_format("csv")
    with pytest.raises(ValueError, match="requests, or rates and demand"):
        TraceFormat("both", "x", read_requests=lambda p: None, read_rates=lambda p: None)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_every_command_reads_every_format(tmp_path: Path, command: str, fmt: str) -> None:
    out = tmp_path / "out"
    trace = write_sample(tmp_path, fmt)
    args = [command, "--trace", str(trace), "--format", fmt, "--out", str(out)]
    result = RUNNER.invoke(app, [*args, *COMMANDS[command]])
    assert result.exit_code == 0, result.output
    assert any(out.iterdir())


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_emulate_reads_every_format(tmp_path: Path, fmt: str) -> None:
    fleet = build_fleet(write_sample(tmp_path, fmt), fmt, clock=ManualClock(0.0))
    assert fleet is not None


# --- ServeGen ---------------------------------------------------------------------------------


def test_servegen_replays_every_request_with_the_covered_clients_lengths(tmp_path: Path) -> None:
    path = tmp_path / "aggregate_x.csv"
    # 1,000 req/s, 300 of them covered, sending 60,000 input and 9,000 output tok/s: prompts
    # of 200 tokens and outputs of 30, so 200,000 and 30,000 tok/s over every request. The
    # second row is a collection gap, bridged from its neighbours.
    path.write_text(
        f"{SERVEGEN_HEADER}\n0,1000,20,300,60000,9000,1\n600,0,0,0,0,0,0\n"
        "1200,1200,20,0,0,0,1\n1800,1000,20,300,60000,9000,1\n"
    )
    series = servegen_rate_series(path)
    np.testing.assert_allclose(series.rate_rps, [1000, 1100, 1200, 1000])
    assert series.input_tokens_per_s is not None and series.output_tokens_per_s is not None
    # Row 3 has no covered request: the file's mean length (200 / 30) stands in.
    np.testing.assert_allclose(series.input_tokens_per_s, [2e5, 2.2e5, 2.4e5, 2e5])
    np.testing.assert_allclose(series.output_tokens_per_s, [3e4, 3.3e4, 3.6e4, 3e4])
    assert series.meta == {"collection_gaps_bridged": 1}


def test_servegen_without_covered_rate_keeps_the_default_lengths(tmp_path: Path) -> None:
    path = tmp_path / "aggregate_x.csv"
    header = SERVEGEN_HEADER.replace("covered_rate_rps,", "")
    path.write_text(f"{header}\n0,2,20,600,90,1\n600,2,20,600,90,1\n")
    trace = load_trace(path, "servegen")
    assert trace.meta["arrivals"] == "poisson" and "collection_gaps_bridged" not in trace.meta
    assert trace.prompt_tokens.mean() == pytest.approx(2048, rel=0.15)


def test_simulate_reads_a_small_servegen_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = RUNNER.invoke(
        app,
        [
            "simulate", "--trace", str(write_sample(tmp_path, "servegen")), "--format",
            "servegen", "--policies", "predictive,oracle", "--out", str(out), "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trace = json.loads((out / "summary.json").read_text())["trace"]
    # 0.5 req/s for 4 h (the gap row bridged): ~7,200 requests, prompts ~2,000 tokens.
    assert 6800 < trace["requests"] < 7600
    assert trace["collection_gaps_bridged"] == 1
    assert trace["mean_prompt_tokens"] == pytest.approx(2000, rel=0.1)
    assert trace["mean_output_tokens"] == pytest.approx(30, rel=0.1)


def test_a_servegen_file_over_the_safety_limit_asks_for_max_requests(tmp_path: Path) -> None:
    path = tmp_path / "aggregate_big.csv"
    rate = SAFETY_LIMIT / 1200 * 2  # two 600 s rows: twice the limit
    path.write_text(
        f"{SERVEGEN_HEADER}\n0,{rate},20,{rate},{rate * 100},{rate * 10},1\n"
        f"600,{rate},20,{rate},{rate * 100},{rate * 10},1\n"
    )
    out = tmp_path / "out"
    args = ["simulate", "--trace", str(path), "--format", "servegen", "--out", str(out)]
    refused = RUNNER.invoke(app, args)
    assert refused.exit_code == 2
    text = " ".join(refused.output.split())
    assert "400,000,000 requests expected" in text and "--max-requests" in text
    capped = RUNNER.invoke(app, [*args, "--max-requests", "20000", "--policies", "static"])
    assert capped.exit_code == 0, capped.output
