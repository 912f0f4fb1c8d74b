"""`prewarm tune`: the grid, the objective's weights, and a forecast section profile.py accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from autoscaler.profile import BUNDLED_PROFILE, load_profile, parse_profile
from tests.backtest.cli_helpers import daily_series, prewarm, read_json


def test_tune_writes_a_forecast_section_the_profile_loader_accepts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = prewarm(
        "tune", "--series", str(daily_series(tmp_path)), "--horizon-s", "600",
        "--forecasters", "last-value,seasonal-naive", "--quantiles", "0.9,0.98",
        "--under-weight", "10", "--over-weight", "1", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = (out / "forecast.yaml").read_text()
    assert text.startswith("# prewarm tune on demand")  # the evidence, as comments
    section = yaml.safe_load(text)
    assert set(section) == {"forecast"}
    profile = yaml.safe_load(BUNDLED_PROFILE.read_text())
    profile["forecast"] = section["forecast"]
    parsed = parse_profile(profile)
    doc = read_json(out / "tune.json")
    # 1 last-value x 2 quantiles + 3 level windows x 2 quantiles for seasonal-naive.
    assert len(doc["trials"]) == 8
    objectives = [t["objective"] for t in doc["trials"]]
    assert objectives == sorted(objectives)
    assert doc["best"] == section["forecast"]
    assert parsed.forecast.kind == doc["trials"][0]["kind"]
    assert parsed.forecast.bucket_s == 300
    assert "Best:" in result.output


def test_weights_move_the_chosen_quantile(tmp_path: Path) -> None:
    series = str(daily_series(tmp_path))

    def best_quantile(under: str, over: str) -> float:
        out = tmp_path / f"out-{under}-{over}"
        result = prewarm(
            "tune", "--series", series, "--forecasters", "last-value",
            "--quantiles", "0.6,0.99", "--under-weight", under, "--over-weight", over,
            "--out", str(out), "--json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return float(read_json(out / "tune.json")["best"]["quantile"])

    assert best_quantile("100", "1") == 0.99  # SLO misses are what costs
    assert best_quantile("1", "100") == 0.6  # idle GPUs are what costs


def test_tune_with_a_profile_writes_the_whole_profile_back(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = prewarm(
        "tune", "--series", str(daily_series(tmp_path)), "--profile", str(BUNDLED_PROFILE),
        "--forecasters", "last-value", "--quantiles", "0.95", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    tuned = load_profile(out / "profile.yaml")
    assert tuned.forecast.kind == "last-value"
    assert tuned.model == load_profile(BUNDLED_PROFILE).model
    # The bundled profile's horizon: cold start 300 s + decision interval 15 s.
    assert read_json(out / "tune.json")["horizon_s"] == 315


def test_tune_rejects_bad_quantiles_with_exit_2(tmp_path: Path) -> None:
    result = prewarm(
        "tune", "--series", str(daily_series(tmp_path)), "--quantiles", "0.4",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--quantiles must lie in (0.5, 1)" in result.output


def test_tune_rejects_a_zero_horizon_instead_of_using_the_default(tmp_path: Path) -> None:
    result = prewarm(
        "tune", "--series", str(daily_series(tmp_path)), "--horizon-s", "0",
        "--forecasters", "last-value", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "horizon_s must be > 0" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_kinds_that_cannot_run_on_the_bucket_are_named_not_dropped_silently(
    tmp_path: Path,
) -> None:
    # 7-minute buckets do not divide a day: the seasonal kinds cannot run, and the user must
    # hear which and why instead of a search of last-value alone that looks complete.
    out = tmp_path / "out"
    series = daily_series(tmp_path, bucket_s=420.0)
    result = prewarm(
        "tune", "--series", str(series), "--forecasters", "last-value,holt-winters",
        "--quantiles", "0.95", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "skipped holt-winters" in result.output and "--bucket-s" in result.output
    doc = read_json(out / "tune.json")
    assert [t["kind"] for t in doc["trials"]] == ["last-value"]
    assert doc["skipped"]["holt-winters"].startswith("season_s (86400) must be a multiple")
    assert "fit_bucket_s (420)" in doc["skipped"]["holt-winters"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--under-weight", "inf"], "--under-weight must be a finite number"),
        (["--over-weight", "inf"], "--over-weight must be a finite number"),
        (["--profile", "{tmp}"], "Is a directory"),
        (["--out", "{taken}"], "exists and is not a directory"),
        (["--warmup-s", "1e9"], "leaves no origin to score"),
    ],
    ids=["under-weight-inf", "over-weight-inf", "profile-is-a-dir", "out-is-a-file", "warmup"],
)
def test_tune_bad_input_exits_2_without_a_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    argv = [a.format(tmp=tmp_path, taken=taken) for a in args]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    result = prewarm(
        "tune", "--series", str(daily_series(tmp_path, days=0.5)),
        "--forecasters", "last-value", "--quantiles", "0.95", *argv,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "out").exists()  # refused before any work or file


def test_a_bucket_the_profile_cannot_use_is_refused_before_the_search(tmp_path: Path) -> None:
    # The bundled profile decides every 15 s: a 10 s bucket cannot load there. The search
    # used to run every candidate first and fail at the end.
    out = tmp_path / "out"
    result = prewarm(
        "tune", "--series", str(daily_series(tmp_path, days=0.5)), "--bucket-s", "10",
        "--forecasters", "last-value", "--quantiles", "0.95", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "decide at least once per bucket" in " ".join(result.output.split())
    assert "candidates" not in result.output  # refused before the search began
    assert not out.exists()
