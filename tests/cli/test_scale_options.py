"""--rate-scale and --length-scale in every command that reads a trace: bad values and misplaced
scales exit 2 naming the option, a scaled trace replays as scaled, and a scaled sweep or tune
never reads an unscaled one's cached replays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulations.sweep.cache import task_key
from simulations.sweep.tasks import TraceRef
from tests.cli.trace_options import (
    COMMANDS,
    QUICK,
    prewarm,
    text,
    with_trace,
    write_demand_series,
)
from tests.simulations.format_samples import write_sample


@pytest.mark.parametrize("command", COMMANDS)
def test_a_rate_scale_of_a_request_list_exits_2_saying_why(tmp_path: Path, command: str) -> None:
    trace = write_sample(tmp_path, "azure")
    result = with_trace(command, trace, "azure", tmp_path / "out", "--rate-scale", "2")
    assert result.exit_code == 2, result.output
    assert (
        "--rate-scale applies to rate series (rate, servegen, azure2024); 'azure' lists its "
        "requests" in text(result)
    )
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("option", "value", "shown"),
    [("--rate-scale", "0", "0"), ("--length-scale", "-1", "-1"),
     ("--rate-scale", "inf", "inf"), ("--length-scale", "nan", "nan")],
)  # fmt: skip
def test_a_scale_that_is_not_a_positive_number_exits_2_naming_it(
    tmp_path: Path, command: str, option: str, value: str, shown: str
) -> None:
    trace = write_sample(tmp_path, "rate")
    result = with_trace(command, trace, "rate", tmp_path / "out", option, value)
    assert result.exit_code == 2, result.output
    assert f"{option} must be a finite number > 0, got {shown}" in text(result)


@pytest.mark.parametrize("command", ["simulate", "sweep", "emulate"])
def test_a_scale_of_the_bundled_trace_exits_2(command: str, tmp_path: Path) -> None:
    out = [] if command == "emulate" else ["--out", str(tmp_path / "out")]
    result = prewarm(command, "--length-scale", "2", *out)
    assert result.exit_code == 2, result.output
    assert "--length-scale 2: scales apply to a --trace file" in text(result)


@pytest.mark.parametrize("command", ["backtest", "tune"])
def test_a_scale_of_a_demand_series_exits_2(command: str, tmp_path: Path) -> None:
    series = write_demand_series(tmp_path)
    result = prewarm(command, "--series", str(series), "--rate-scale", "3", "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "--rate-scale 3: scales apply to a --trace file" in text(result)


def test_simulate_replays_the_scaled_trace(tmp_path: Path) -> None:
    trace = write_sample(tmp_path, "rate")  # 0.5 req/s of 2,000 + 30 tokens for 4 h

    def summary(*scales: str) -> dict:  # type: ignore[type-arg]
        out = tmp_path / "-".join(("out", *scales))
        result = with_trace("simulate", trace, "rate", out, *QUICK["simulate"], "--json", *scales)
        assert result.exit_code == 0, result.output
        return json.loads((out / "summary.json").read_text())["trace"]

    plain = summary()
    scaled = summary("--rate-scale", "4", "--length-scale", "0.5")
    assert scaled["requests"] / plain["requests"] == pytest.approx(4, rel=0.05)
    assert scaled["mean_prompt_tokens"] == pytest.approx(1000, rel=0.05)
    assert scaled["rate_scale"] == 4 and scaled["length_scale"] == 0.5
    assert "rate_scale" not in plain


def test_backtest_forecasts_the_scaled_demand(tmp_path: Path) -> None:
    trace = write_sample(tmp_path, "rate")
    result = with_trace(
        "backtest", trace, "rate", tmp_path / "out", "--forecasters", "last-value",
        "--no-plots", "--horizon-s", "600", "--rate-scale", "0.5", "--length-scale", "4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "x 2 (--rate-scale 0.5 --length-scale 4)" in text(result)


def test_the_cache_key_holds_the_scales_as_well_as_the_digest() -> None:
    def key(ref: TraceRef) -> str:
        return task_key(
            trace=ref, trace_digest="same requests", warmup_s=0.0, family="oracle",
            profile={}, seed=0, code="c",
        )  # fmt: skip

    plain = key(TraceRef("t.csv", "rate"))
    assert key(TraceRef("t.csv", "rate", rate_scale=0.5)) != plain
    assert key(TraceRef("t.csv", "rate", length_scale=2.0)) != plain
    assert key(TraceRef("t.csv", "rate", rate_scale=1.0, length_scale=1.0)) == plain


def test_a_scaled_sweep_replays_instead_of_reading_the_unscaled_cache(tmp_path: Path) -> None:
    trace = write_sample(tmp_path, "rate")
    out = tmp_path / "out"

    def sweep(*scales: str) -> str:
        result = with_trace("sweep", trace, "rate", out, *QUICK["sweep"], *scales)
        assert result.exit_code == 0, result.output
        return text(result)

    assert "1 replays run, 0 from the cache" in sweep()
    assert "1 replays run, 0 from the cache" in sweep("--rate-scale", "0.5")
    assert "1 replays run, 0 from the cache" in sweep("--length-scale", "3")
    assert "0 replays run, 1 from the cache" in sweep("--rate-scale", "0.5")


def test_a_scaled_tune_replays_instead_of_reading_the_unscaled_cache(tmp_path: Path) -> None:
    trace = write_sample(tmp_path, "rate")
    cache = tmp_path / "cache"

    def replays(out: str, *scales: str) -> dict:  # type: ignore[type-arg]
        result = with_trace(
            "tune", trace, "rate", tmp_path / out, *QUICK["tune"], "--cache-dir", str(cache),
            *scales,
        )  # fmt: skip
        assert result.exit_code in (0, 1), result.output  # 1: no candidate met the SLO
        return json.loads((tmp_path / out / "tune.json").read_text())["replays"]

    first = replays("plain")
    assert first["replayed"] > 0 and first["cached"] == 0
    assert replays("scaled", "--length-scale", "2")["cached"] == 0
    assert replays("again", "--length-scale", "2")["replayed"] == 0
