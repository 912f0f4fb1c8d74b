"""--from-s and --until-s in every command that reads a trace: bad bounds, a window that keeps
nothing and a window without a trace exit 2 naming the option, a window replays and
forecasts only its part, and a windowed sweep or tune never reads the whole trace's cached
replays."""

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

NOT_SECONDS = "must be a finite number of seconds >= 0, got"


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("options", "message"),
    [(["--from-s", "-1"], f"--from-s {NOT_SECONDS} -1"),
     (["--until-s", "inf"], f"--until-s {NOT_SECONDS} inf"),
     (["--from-s", "nan"], f"--from-s {NOT_SECONDS} nan"),
     (["--from-s", "3600", "--until-s", "600"], "--until-s 600 must be after --from-s 3600")],
)  # fmt: skip
def test_a_window_that_is_not_an_interval_of_seconds_exits_2_naming_it(
    tmp_path: Path, command: str, options: list[str], message: str
) -> None:
    trace = write_sample(tmp_path, "rate")
    result = with_trace(command, trace, "rate", tmp_path / "out", *options)
    assert result.exit_code == 2, result.output
    assert message in text(result)
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("fmt", "what", "span"), [("rate", "row", "14,340"),
                                                   ("azure", "request", "14,398")])  # fmt: skip
def test_a_window_that_keeps_nothing_exits_2_naming_the_span(
    tmp_path: Path, command: str, fmt: str, what: str, span: str
) -> None:
    trace = write_sample(tmp_path, fmt)  # four hours
    result = with_trace(command, trace, fmt, tmp_path / "out", *QUICK.get(command, []),
                         "--from-s", "900000")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"--from-s 900000 keeps no {what} of {trace} (it spans 0-{span} s)" in text(result)


@pytest.mark.parametrize("command", ["simulate", "sweep", "emulate"])
def test_a_window_of_the_bundled_trace_exits_2(command: str, tmp_path: Path) -> None:
    out = [] if command == "emulate" else ["--out", str(tmp_path / "out")]
    result = prewarm(command, "--until-s", "86400", *out)
    assert result.exit_code == 2, result.output
    assert "--until-s 86400: a window applies to a --trace file" in text(result)


@pytest.mark.parametrize("command", ["backtest", "tune"])
def test_a_window_of_a_demand_series_exits_2(command: str, tmp_path: Path) -> None:
    series = write_demand_series(tmp_path)
    result = prewarm(command, "--series", str(series), "--from-s", "600", "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "--from-s 600: a window applies to a --trace file" in text(result)


def test_simulate_replays_the_window(tmp_path: Path) -> None:
    trace = write_sample(tmp_path, "azure")  # a request every 2 s for 4 h

    def summary(*window: str) -> dict:  # type: ignore[type-arg]
        out = tmp_path / "-".join(("out", *window))
        result = with_trace("simulate", trace, "azure", out, *QUICK["simulate"], "--json", *window)
        assert result.exit_code == 0, result.output
        return json.loads((out / "summary.json").read_text())["trace"]

    plain = summary()
    cut = summary("--from-s", "3600", "--until-s", "10800")
    assert plain["requests"] == 7200
    assert cut["requests"] == 3600  # 2 h at 0.5 req/s: 3,600 s inclusive to 10,800 exclusive
    assert cut["duration_s"] == 7198.0  # shifted to start at 0
    assert cut["from_s"] == 3600 and cut["until_s"] == 10800
    assert "from_s" not in plain


def test_backtest_forecasts_the_window(tmp_path: Path) -> None:
    trace = write_sample(tmp_path, "rate")
    result = with_trace(
        "backtest", trace, "rate", tmp_path / "out", "--forecasters", "last-value",
        "--no-plots", "--horizon-s", "600", "--until-s", "7200", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "out" / "backtest.json").read_text())
    assert "rows --until-s 7200" in json.dumps(document)


def test_the_cache_key_holds_the_window_as_well_as_the_digest() -> None:
    def key(ref: TraceRef) -> str:
        return task_key(
            trace=ref, trace_digest="same requests", warmup_s=0.0, family="oracle",
            profile={}, seed=0, code="c",
        )  # fmt: skip

    plain = key(TraceRef("t.csv", "rate"))
    assert key(TraceRef("t.csv", "rate", from_s=600.0)) != plain
    assert key(TraceRef("t.csv", "rate", until_s=600.0)) != plain
    assert key(TraceRef("t.csv", "rate", from_s=0.0)) != plain  # given, even if it cuts nothing
    assert key(TraceRef("t.csv", "rate", from_s=None, until_s=None)) == plain


def test_a_windowed_sweep_replays_instead_of_reading_the_whole_traces_cache(
    tmp_path: Path,
) -> None:
    trace = write_sample(tmp_path, "rate")
    out = tmp_path / "out"

    def sweep(*window: str) -> str:
        result = with_trace("sweep", trace, "rate", out, *QUICK["sweep"], *window)
        assert result.exit_code == 0, result.output
        return text(result)

    assert "1 replays run, 0 from the cache" in sweep()
    assert "1 replays run, 0 from the cache" in sweep("--until-s", "10800")
    assert "1 replays run, 0 from the cache" in sweep("--from-s", "600")
    assert "0 replays run, 1 from the cache" in sweep("--until-s", "10800")


def test_a_windowed_tune_replays_instead_of_reading_the_whole_traces_cache(
    tmp_path: Path,
) -> None:
    trace = write_sample(tmp_path, "rate")
    cache = tmp_path / "cache"

    def replays(out: str, *window: str) -> dict:  # type: ignore[type-arg]
        result = with_trace(
            "tune", trace, "rate", tmp_path / out, *QUICK["tune"], "--cache-dir", str(cache),
            *window,
        )  # fmt: skip
        assert result.exit_code in (0, 1), result.output  # 1: no candidate met the SLO
        return json.loads((tmp_path / out / "tune.json").read_text())["replays"]

    first = replays("plain")
    assert first["replayed"] > 0 and first["cached"] == 0
    assert replays("cut", "--until-s", "10800")["cached"] == 0
    assert replays("again", "--until-s", "10800")["replayed"] == 0
