"""`prewarm sweep` as a user runs it: the installed console script, real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.simulations.sweep_helpers import write_rate_trace
from tests.simulations.test_cli_simulate import prewarm


@pytest.fixture(scope="module")
def trace_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rate_trace(tmp_path_factory.mktemp("trace"), hours=3.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "forecast.quantil=0.9"], "forecast.quantil: unknown key"),
        (["--set", "target_utilisation=0.5:1.2:0.1"], "target_utilisation=1.1"),
        (["--set", "target_utilisation"], "expected path=values"),
        (["--set", "target_utilisation.x=1"], "target_utilisation is a value, not a section"),
        (["--policies", "predictive,magic"], "unknown policy magic"),
        (["--format", "csv"], "unknown --format 'csv'"),
        (["--format", "azure", "--max-requests", "10"], "--max-requests shape arrivals"),
    ],
    ids=[
        "unknown-key",
        "out-of-range",
        "no-values",
        "not-a-section",
        "policy",
        "format",
        "synthesis-option-ignored",
    ],
)
def test_bad_input_exits_2_naming_it_before_anything_runs(
    tmp_path: Path, trace_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    result = prewarm(
        "sweep", "--trace", str(trace_path), "--format", "rate", "--out", str(out), *args
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join((result.stdout + result.stderr).split())
    assert not out.exists()


def test_a_missing_trace_and_a_repeated_one_exit_2(tmp_path: Path, trace_path: Path) -> None:
    missing = prewarm("sweep", "--trace", str(tmp_path / "nope.csv"), "--out", str(tmp_path))
    assert missing.returncode == 2 and "nope.csv" in missing.stdout
    twice = prewarm(
        "sweep", "--trace", str(trace_path), "--trace", str(trace_path), "--format", "rate"
    )
    assert twice.returncode == 2 and "given more than once" in twice.stdout


def test_a_small_sweep_writes_points_and_frontier_and_reruns_from_cache(
    tmp_path: Path, trace_path: Path
) -> None:
    out = tmp_path / "out"
    args = [
        "sweep",
        "--trace",
        str(trace_path),
        "--format",
        "rate",
        "--policies",
        "predictive,reactive-tokens,oracle",
        "--set",
        "target_utilisation=0.6,0.8",
        "--set",
        "forecast.quantile=0.95",
        "--warmup-s",
        "1800",
        "--workers",
        "1",
        "--out",
        str(out),
    ]
    first = prewarm(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    text = " ".join(first.stdout.split())
    assert "6 points, 6 distinct replays" in text
    assert "reactive-tokens ignores forecast.quantile" in text
    assert "GPU-hours to reach predictive's" in text
    assert "6 replays run, 0 from the cache" in text

    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["policies"] == ["predictive", "reactive-tokens", "oracle"]
    assert sweep["grid"] == {"target_utilisation": [0.6, 0.8], "forecast.quantile": [0.95]}
    assert sweep["replays"] == {"points": 6, "distinct": 6, "cached": 0, "replayed": 6}
    points = sweep["points"]
    assert len(points) == 6
    for point in points:
        assert point["trace"] == "short.csv"
        assert 0 < point["slo_attainment"] <= 1
        assert point["slo_attainment_pct"] == pytest.approx(point["slo_attainment"] * 100)
        assert point["gpu_hours"] > 0 and point["peak_replicas"] >= 1
    oracle = [p for p in points if p["family"] == "oracle" and p["at_profile"]]
    assert len(oracle) == 1 and oracle[0]["gpu_hours_vs_oracle"] == 1.0
    assert oracle[0]["overrides"] == {"target_utilisation": 0.8}
    (trace,) = sweep["traces"]
    assert trace["oracle_gpu_hours"] == oracle[0]["gpu_hours"]
    assert set(trace["needed_for_predictive_slo"]) == {"reactive-tokens", "oracle"}
    assert any(p["on_frontier"] for p in points if p["family"] == "predictive")
    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    again = prewarm(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 replays run, 6 from the cache" in " ".join(again.stdout.split())
    rerun = json.loads((out / "sweep.json").read_text())
    assert rerun["points"] == points
