"""summary.json numbers and fixed shape, the terminal table, and the report files."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from simulations.report import (
    build_summary,
    comparison_table,
    plot_capacity,
    plot_ttft,
    policy_summary,
    slo_violations,
    write_report,
    write_summary_json,
)
from simulations.report.plots import centred_mean, downsample, hour_step
from simulations.run_result import PolicyRun

KEYS = {
    "slo_attainment",
    "ttft_p50_s",
    "ttft_p95_s",
    "ttft_p99_s",
    "gpu_hours",
    "mean_replicas",
    "peak_replicas",
    "replica_changes",
    "dropped_requests",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run(
    name: str = "p",
    ttft: Sequence[float] | np.ndarray = (),
    dropped: Sequence[bool] | np.ndarray | None = None,
    requested: Sequence[int] | np.ndarray = (1,),
    *,
    ready: Sequence[int] | np.ndarray | None = None,
    demand: np.ndarray | None = None,
    slo_ttft_s: float = 2.0,
    tick_s: float = 1.0,
) -> PolicyRun:
    """A hand-built run: per-tick arrays from `requested`, per-request from `ttft`."""
    requested = np.asarray(requested, dtype=np.int32)
    ticks = requested.size
    ttft = np.asarray(ttft, dtype=np.float32)
    return PolicyRun(
        policy=name,
        tick_s=tick_s,
        t_s=np.arange(ticks, dtype=np.float64) * tick_s,
        demand_replicas=np.linspace(1, 3, ticks) if demand is None else demand,
        ready_replicas=requested if ready is None else np.asarray(ready, dtype=np.int32),
        requested_replicas=requested,
        ttft_s=ttft,
        dropped=np.zeros(ttft.size, bool) if dropped is None else np.asarray(dropped, bool),
        gpu_hours=float(requested.sum()) * tick_s / 3600,
        replica_changes=int(np.count_nonzero(np.diff(requested))),
        slo_ttft_s=slo_ttft_s,
    )


def empty_run(name: str = "empty") -> PolicyRun:
    """No ticks and no requests at all."""
    return make_run(name, [], [], [])


def daily_runs(days: float = 2.0) -> list[PolicyRun]:
    """Realistic sizes: a daily cycle at 1 s ticks, a lagging and a leading policy."""
    rng = np.random.default_rng(0)
    t = np.arange(int(days * 86400), dtype=np.float64)
    demand = rng.poisson(3 * (12 + 9 * np.sin(2 * np.pi * t / 86400))) / 3
    target = np.ceil((12 + 9 * np.sin(2 * np.pi * t / 86400)) / 0.8).astype(np.int32)
    runs = []
    for name, shift in (("reactive", 600), ("oracle", -300)):
        requested = np.roll(target, shift)
        ttft = rng.lognormal(np.log(0.3), 0.8, 50_000)
        runs.append(make_run(name, ttft, rng.random(ttft.size) < 0.001, requested, demand=demand))
    return runs


# --- summary numbers ---------------------------------------------------------------------


def test_numbers_follow_their_definitions() -> None:
    # 10 requests: 2 served over the SLO, 1 dropped -> 7 met.
    ttft = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 3.0, 4.0, 120.0]
    dropped = [False] * 9 + [True]
    run = make_run("p", ttft, dropped, [2, 2, 4, 4])
    s = policy_summary(run)
    assert set(s) == KEYS
    assert s["slo_attainment"] == 0.7
    assert slo_violations(run) == 3
    served = np.asarray(ttft[:9], dtype=np.float32).astype(np.float64)
    for key, q in (("ttft_p50_s", 0.5), ("ttft_p95_s", 0.95), ("ttft_p99_s", 0.99)):
        assert s[key] == pytest.approx(float(np.quantile(served, q)), rel=1e-5), key
    assert s["ttft_p50_s"] == 0.5  # the dropped 120 s request is not among the served
    assert s["mean_replicas"] == 3.0
    assert s["peak_replicas"] == 4
    assert s["dropped_requests"] == 1
    assert s["replica_changes"] == 1
    assert s["gpu_hours"] == pytest.approx(12 / 3600, rel=1e-5)


@pytest.mark.parametrize(
    ("requested", "mean", "peak"),
    [
        pytest.param([5], 5.0, 5, id="single-tick"),
        pytest.param([2] * 90 + [12] * 10, 3.0, 12, id="short-spike-weighted-by-ticks"),
        pytest.param([0, 0, 0, 4], 1.0, 4, id="scale-from-zero"),
        pytest.param([], 0.0, 0, id="no-ticks"),
    ],
)
def test_mean_and_peak_are_of_requested_replicas_over_ticks(
    requested: list[int], mean: float, peak: int
) -> None:
    # Ready lags requested (cold start): the summary must follow what is paid, not ready.
    ready = [0] * len(requested)
    s = policy_summary(make_run("p", [0.1], [False], requested, ready=ready))
    assert s["mean_replicas"] == mean
    assert s["peak_replicas"] == peak
    assert type(s["peak_replicas"]) is int


@pytest.mark.parametrize(
    ("ttft", "dropped", "attainment", "violations"),
    [
        pytest.param([], [], 1.0, 0, id="no-requests"),
        pytest.param([0.5, 1.0], [False, False], 1.0, 0, id="all-met"),
        pytest.param([2.0], [False], 1.0, 0, id="exactly-at-slo-counts-as-met"),
        pytest.param([2.0001], [False], 0.0, 1, id="just-over"),
        pytest.param([0.1, 0.1], [True, True], 0.0, 2, id="all-dropped"),
        pytest.param([0.1] * 3 + [9.0], [False] * 4, 0.75, 1, id="one-in-four-slow"),
    ],
)
def test_slo_attainment_cases(
    ttft: list[float], dropped: list[bool], attainment: float, violations: int
) -> None:
    run = make_run("p", ttft, dropped)
    assert policy_summary(run)["slo_attainment"] == attainment
    assert slo_violations(run) == violations


def test_attainment_never_rounds_up_to_a_perfect_score() -> None:
    # 3 misses in 10 M: six significant digits alone would print 1.0.
    n = 10_000_000
    ttft = np.full(n, 0.1, dtype=np.float32)
    ttft[:3] = 50.0
    s = policy_summary(make_run("p", ttft))
    assert s["slo_attainment"] < 1.0
    assert s["slo_attainment"] == pytest.approx(1 - 3 / n, abs=1e-9)


def test_percentiles_are_zero_when_nothing_was_served() -> None:
    s = policy_summary(make_run("p", [1.0, 2.0], [True, True]))
    assert (s["ttft_p50_s"], s["ttft_p95_s"], s["ttft_p99_s"]) == (0.0, 0.0, 0.0)
    assert s["dropped_requests"] == 2 and s["slo_attainment"] == 0.0


def test_floats_have_six_significant_digits() -> None:
    run = make_run("p", [1 / 3], [False], [1] * 7)  # 7 s: gpu_hours = 0.0019444...
    s = policy_summary(run)
    assert s["ttft_p50_s"] == 0.333333
    assert s["gpu_hours"] == 0.00194444


# --- summary shape and JSON ----------------------------------------------------------------


def _all_plain(value: object) -> bool:
    """Only JSON's own types, and no NaN or inf."""
    if isinstance(value, dict):
        return all(type(k) is str and _all_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_all_plain(v) for v in value)
    if type(value) is float:
        return math.isfinite(value)
    return value is None or type(value) in (bool, int, str)


def test_summary_shape_types_and_exact_json_round_trip(tmp_path: Path) -> None:
    runs = [make_run("predictive", [0.5, 3.0], [False, True], [3, 4]), empty_run("oracle")]
    trace = {
        "name": "t",
        "requests": np.int64(2),  # loaders' meta may hold numpy scalars, NaN, tuples
        "cv": np.float32(1.5),
        "missing": float("nan"),
        "window": (1, 2),
    }
    summary = build_summary(trace, 2, np.float64(3600.5), runs, warmup_s=np.float64(900.0))
    assert list(summary) == ["trace", "requests", "duration_s", "warmup_s", "policies"]
    assert summary["warmup_s"] == 900.0
    assert list(summary["policies"]) == ["predictive", "oracle"]
    assert all(set(p) == KEYS for p in summary["policies"].values())
    assert _all_plain(summary)
    assert summary["trace"] == {
        "name": "t",
        "requests": 2,
        "cv": 1.5,
        "missing": None,
        "window": [1, 2],
    }
    path = write_summary_json(tmp_path / "summary.json", summary)
    assert json.loads(path.read_text()) == summary


def test_duplicate_policy_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        build_summary({}, 0, 0.0, [make_run("a"), make_run("a")])


# --- terminal table ------------------------------------------------------------------------


def _render(summary: dict, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(comparison_table(summary))
    return console.export_text()


@pytest.mark.parametrize(
    ("names", "oracle_column"),
    [
        pytest.param(["predictive", "reactive", "oracle"], True, id="with-oracle"),
        pytest.param(["predictive", "reactive-tokens", "static"], False, id="without-oracle"),
    ],
)
def test_table_rows_and_oracle_column(names: list[str], oracle_column: bool) -> None:
    hours = {"predictive": [3] * 3600, "reactive": [4] * 3600, "oracle": [2] * 3600}
    runs = [make_run(n, [0.5] * 10, None, hours.get(n, [5] * 3600)) for n in names]
    table = comparison_table(build_summary({}, 10, 3600.0, runs))
    headers = [str(c.header).replace("\n", " ") for c in table.columns]
    assert ("GPU-h vs oracle" in headers) is oracle_column
    assert table.row_count == len(names)
    for title in ("SLO %", "TTFT p50", "TTFT p95", "TTFT p99", "GPU-h", "mean repl.", "dropped"):
        assert title in headers
    text = _render(build_summary({}, 10, 3600.0, runs))
    assert all(name in text for name in names)
    if oracle_column:
        assert "1.50x" in text and "2.00x" in text and "1.00x" in text


def test_table_fits_80_columns_with_every_default_policy() -> None:
    names = ["predictive", "reactive", "reactive-tokens", "static", "oracle"]
    runs = [make_run(n, [150.0, 0.3], [False, True], [64] * 86400) for n in names]
    text = _render(build_summary({}, 2, 86400.0, runs))
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    assert "…" not in text  # nothing truncated


def test_table_never_shows_100_percent_for_misses() -> None:
    ttft = np.full(100_000, 0.1, dtype=np.float32)
    ttft[0] = 9.0  # 99.999 % met
    text = _render(build_summary({}, ttft.size, 60.0, [make_run("p", ttft)]))
    assert "99.99" in text and "100.00" not in text


# --- plots ---------------------------------------------------------------------------------


def test_downsample_keeps_peaks_and_means() -> None:
    values = np.array([1.0, 5.0, 2.0, 2.0, 4.0])
    assert downsample(values, 2, "max").tolist() == [5.0, 2.0, 4.0]
    assert downsample(values, 2, "mean").tolist() == [3.0, 2.0, 4.0]
    assert downsample(values, 1, "max").tolist() == values.tolist()


def test_centred_mean_does_not_sag_at_the_ends() -> None:
    assert centred_mean(np.full(10, 4.0), 60).tolist() == [4.0] * 10
    assert centred_mean(np.array([0.0, 3.0, 0.0]), 3)[1] == 1.0
    assert centred_mean(np.array([]), 60).size == 0


@pytest.mark.parametrize(
    ("span_h", "step"),
    [
        pytest.param(0.4, None, id="minutes-auto"),
        pytest.param(8.0, None, id="hours-auto"),
        pytest.param(48.0, 6.0, id="two-days"),
        pytest.param(168.0, 24.0, id="week-whole-days"),
        pytest.param(24.0 * 60, 120.0, id="two-months"),
    ],
)
def test_hour_ticks(span_h: float, step: float | None) -> None:
    assert hour_step(span_h) == step


def _assert_png(path: Path, min_bytes: int = 10_000) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert min_bytes < len(data) < 2_000_000


def test_plots_of_two_days_at_one_second_ticks(tmp_path: Path) -> None:
    runs = daily_runs(2.0)
    assert plot_capacity(runs, tmp_path / "capacity.png") == tmp_path / "capacity.png"
    assert plot_ttft(runs, tmp_path / "ttft.png") == tmp_path / "ttft.png"
    _assert_png(tmp_path / "capacity.png", 40_000)
    _assert_png(tmp_path / "ttft.png", 20_000)


@pytest.mark.parametrize(
    "runs",
    [
        pytest.param([], id="no-runs"),
        pytest.param([empty_run()], id="empty-run"),
        pytest.param([make_run("p", [], [], [1, 2, 3])], id="ticks-without-requests"),
        pytest.param([make_run("p", [1.0], [True], [1] * 10)], id="everything-dropped"),
        pytest.param([make_run("p", [0.0, 0.0], None, [1] * 5)], id="zero-ttft-on-log-axis"),
        pytest.param([empty_run(), make_run("q", [0.3] * 5, None, [2] * 30)], id="mixed"),
    ],
)
def test_plots_survive_degenerate_runs(tmp_path: Path, runs: list[PolicyRun]) -> None:
    _assert_png(plot_capacity(runs, tmp_path / "capacity.png"), 5_000)
    _assert_png(plot_ttft(runs, tmp_path / "ttft.png"), 5_000)


# --- the whole report ----------------------------------------------------------------------


def test_write_report_files_and_links(tmp_path: Path) -> None:
    runs = daily_runs(0.25)
    summary = build_summary({"name": "daily", "source": "synthetic"}, 50_000, 21_600.0, runs)
    out = tmp_path / "out"  # not there yet
    paths = write_report(out, summary, runs)
    assert set(paths) == {"summary", "capacity", "ttft", "report"}
    assert all(p.parent == out and p.exists() for p in paths.values())
    assert json.loads(paths["summary"].read_text()) == summary
    for key in ("capacity", "ttft"):
        _assert_png(paths[key])
    report = paths["report"].read_text()
    assert "daily" in report and "How to read this" in report
    for name, numbers in summary["policies"].items():
        row = next(line for line in report.splitlines() if line.startswith(f"| {name} |"))
        assert f"{numbers['gpu_hours']:,g}" in row  # the same numbers as summary.json
    assert "GPU-h vs oracle" in report
    links = re.findall(r"\]\(([^)]+)\)", report)
    assert {"capacity.png", "ttft.png", "summary.json"} <= set(links)
    assert all((out / link).exists() for link in links)


def test_write_report_with_nothing_to_report(tmp_path: Path) -> None:
    summary = build_summary({"name": "empty"}, 0, 0.0, [empty_run()])
    paths = write_report(tmp_path, summary, [empty_run()])
    assert "| empty |" in paths["report"].read_text()
    assert json.loads(paths["summary"].read_text())["policies"]["empty"]["slo_attainment"] == 1.0
    paths = write_report(tmp_path / "none", build_summary({}, 0, 0.0, []), [])
    assert paths["report"].exists() and paths["capacity"].exists()
