"""`prewarm backtest` through typer's CliRunner: sources, backtest.json, errors (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.backtest.rolling import default_kinds
from tests.backtest.cli_helpers import azure_trace, daily_series, prewarm, read_json

CONTRACT = {"wape", "mase", "pinball", "coverage", "under_provisioned_fraction"}


def test_series_csv_writes_the_json_contract_and_a_plot(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = prewarm(
        "backtest", "--series", str(daily_series(tmp_path)), "--horizon-s", "600",
        "--forecasters", "last-value,seasonal-naive", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = read_json(out / "backtest.json")
    assert doc["horizon_s"] == 600
    assert list(doc["forecasters"]) == ["last-value", "seasonal-naive"]
    for scores in doc["forecasters"].values():
        assert set(scores) >= CONTRACT
        assert all(isinstance(scores[key], float) for key in CONTRACT)
    assert doc["horizon_steps"] == 2 and doc["bucket_s"] == 300
    assert (out / "forecasts.png").stat().st_size > 10_000
    assert "seasonal-naive" in result.output and "WAPE" in result.output
    # A daily cycle: a day ago at this time beats the value now, two buckets ahead.
    sn, lv = doc["forecasters"]["seasonal-naive"], doc["forecasters"]["last-value"]
    assert sn["wape"] < lv["wape"]


def test_every_default_kind_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = prewarm(
        "backtest", "--series", str(daily_series(tmp_path, days=2.2, bucket_s=600)),
        "--out", str(out), "--no-plots", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = read_json(out / "backtest.json")
    assert set(doc["forecasters"]) | set(doc.get("skipped", {})) == set(default_kinds())
    assert not (out / "forecasts.png").exists()


def test_request_trace_is_bucketed_into_tokens(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = prewarm(
        "backtest", "--trace", str(azure_trace(tmp_path)), "--format", "azure",
        "--forecasters", "last-value", "--warmup-s", "1800", "--out", str(out), "--no-plots",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = read_json(out / "backtest.json")
    series = doc["series"]
    assert series["unit"] == "tokens/s" and series["bucket_s"] == 60
    assert series["buckets"] == 89  # 90 minutes; the minute of the last request is partial
    # 2 req/s x 1,030 tokens, then 2 x 3,030: the mean of the two halves.
    assert series["mean"] == pytest.approx((2060 * 45 + 6060 * 44) / 89)
    assert 0 < doc["forecasters"]["last-value"]["wape"] < 0.1


def test_stride_forecasts_every_nth_bucket(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = prewarm(
        "backtest", "--series", str(daily_series(tmp_path)), "--forecasters", "last-value",
        "--stride-s", "1500", "--out", str(out), "--no-plots",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = read_json(out / "backtest.json")
    assert doc["stride_buckets"] == 5
    # Even a one-bucket horizon is forecast two steps ahead, as the engine does, and a step-2
    # error needs the origin just before: with a stride nothing calibrates, and it says so.
    assert "cannot calibrate" in result.output
    assert doc["forecasters"]["last-value"]["calibrated_fraction"] == 0.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--series", "{tmp}/missing.csv"], "missing.csv: file not found"),
        (["--series", "{bad}"], "bad.csv:3: value is not a number"),
        (["--series", "{good}", "--forecasters", "prophet"], "known: last-value"),
        ([], "give exactly one of --series, --trace, --prometheus (got none)"),
        (["--series", "{good}", "--trace", "{good}"], "got --series and --trace"),
        (["--trace", "{good}"], "--trace needs --format; choose from azure"),
        (["--trace", "{good}", "--format", "parquet"], "unknown --format 'parquet'"),
        (["--series", "{good}", "--horizon-s", "0"], "horizon_s must be > 0"),
        (["--series", "{good}", "--stride-s", "10"], "--stride-s 10 is shorter than a bucket"),
        (["--series", "{good}", "--horizon-s", "1e9"], "cannot hold one origin"),
        (["--series", "{good}", "--warmup-s", "1e9"], "leaves no origin to score"),
        (["--prometheus", "http://127.0.0.1:9"], "--prometheus needs --model"),
        (["--series", "{good}", "--quantity", "bytes"], "unknown --quantity 'bytes'"),
        # The message quotes "[/path]", which rich once took for a closing markup tag.
        (["--prometheus", "notaurl", "--model", "m"], "must be http(s)://host[:port][/path]"),
        (["--series", "{good}", "--stride-s", "inf"], "--stride-s must be a finite number"),
        (["--series", "{good}", "--stride-s", "nan"], "--stride-s must be a finite number"),
        (["--series", "{good}", "--warmup-s", "-60"], "--warmup-s must be a finite number"),
        (["--series", "{good}", "--warmup-s", "nan"], "--warmup-s must be a finite number"),
        (
            ["--prometheus", "http://127.0.0.1:9", "--model", "m", "--lookback-s", "inf"],
            "--lookback-s must be a finite number",
        ),
        (
            ["--prometheus", "http://127.0.0.1:9", "--model", "m", "--end-s", "nan"],
            "--end-s must be a finite epoch time",
        ),
        (["--series", "{tmp}"], "is a directory"),
    ],
    ids=[
        "missing-file", "bad-csv-line", "unknown-kind", "no-source", "two-sources",
        "trace-without-format", "unknown-format", "zero-horizon", "stride-below-bucket",
        "horizon-beyond-series", "warmup-beyond-series", "prometheus-without-model",
        "unknown-quantity", "url-with-brackets", "stride-infinite", "stride-nan",
        "warmup-negative", "warmup-nan", "lookback-infinite", "end-nan", "series-is-a-dir",
    ],
)  # fmt: skip
def test_bad_input_exits_2_naming_the_problem(
    tmp_path: Path, args: list[str], message: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,value\n0,1\n60,x\n")
    good = daily_series(tmp_path, days=0.5)
    names = {"tmp": str(tmp_path), "bad": str(bad), "good": str(good)}
    argv = [a.format(**names) for a in args]
    if "--forecasters" not in args:
        argv += ["--forecasters", "last-value"]
    result = prewarm("backtest", *argv, "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_out_path_that_is_a_file_fails_before_the_backtest_runs(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    result = prewarm(
        "backtest", "--series", str(daily_series(tmp_path, days=0.5)),
        "--forecasters", "last-value", "--out", str(taken),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "exists and is not a directory" in " ".join(result.output.split())
    assert "origins" not in result.output  # no forecaster ran
