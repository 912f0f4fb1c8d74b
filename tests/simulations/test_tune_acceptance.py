"""Issue 19's bar for tune by replay, on the shared Azure 2024 code week (7 days, the first
back-filled into the engine and days 2-7 scored): `prewarm tune --trace` over a small
discrete space writes a profile whose replay meets its SLO target with GPU-hours within 5 %
of the best point meeting it in a brute-force `prewarm sweep` over the same space.

The target is 99.5 % of first tokens within 2 s (the bundled profile with
ttft_slo_attainment 0.995): at the bundled 99 % every point of this space passes and the
constraint would decide nothing; at 99.5 % the cheapest points (target_utilisation 0.95,
and 0.9 with the 0.8 quantile and a 120 s hold) miss it, so tune must not pick them.

Affordable by construction: the sweep runs first (17 replays of ~17 M requests: 16 points
and the profile as given) into a cache directory, and tune searches the same space with
that cache, so its replays are cache hits: the same task and key as the sweep's (checked
below). Tune has fewer trials (10 distinct candidates) than the space has points (16), so
its constrained TPE search, not an enumeration, finds the pick. Skips when ../shared is
absent, fails under CI=true.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.profile import load_profile
from prewarm_cli.inputs import BUNDLED_PROFILE
from simulations.sweep.cache import ResultCache, code_fingerprint
from simulations.sweep.plan import load_traces
from simulations.sweep.tasks import TraceRef
from simulations.tune.replay_search import make_task
from tests.backtest.cli_helpers import prewarm

TRACE = "traces/azure2024/azure2024_code_requests_per_min_digitized.csv"
SPACE = {
    "target_utilisation": "0.8,0.85,0.9,0.95",
    "forecast.quantile": "0.8,0.9",
    "scaling.scale_down_delay_s": "120,600",
}  # 16 points
TRIALS = 10
TARGET = 0.995


@pytest.fixture(scope="module")
def runs(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("tune-acceptance")
    trace = str(shared_dir / TRACE)
    profile = folder / "code.yaml"
    data = yaml.safe_load(BUNDLED_PROFILE.read_text())
    profile.write_text(yaml.safe_dump({**data, "ttft_slo_attainment": TARGET}))
    sets = [arg for path, values in SPACE.items() for arg in ("--set", f"{path}={values}")]
    sweep = prewarm(
        "sweep", "--trace", trace, "--format", "azure2024", "--policies", "predictive",
        *sets, "--profile", str(profile), "--workers", "2", "--out", str(folder / "sweep"),
    )  # fmt: skip
    assert sweep.exit_code == 0, sweep.output
    choices = [arg for path, values in SPACE.items() for arg in ("--choices", f"{path}={values}")]
    tune = prewarm(
        "tune", "--trace", trace, "--format", "azure2024", "--space", "given", *choices,
        "--profile", str(profile), "--trials", str(TRIALS), "--seed", "0", "--workers", "2",
        "--cache-dir", str(folder / "sweep" / "cache"), "--out", str(folder / "tune"),
    )  # fmt: skip
    assert tune.exit_code == 0, tune.output
    return {
        "trace": trace,
        "folder": folder,
        "sweep": json.loads((folder / "sweep" / "sweep.json").read_text()),
        "tune": json.loads((folder / "tune" / "tune.json").read_text()),
    }


def _space_points(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """The grid's points (the sweep also replays the profile as given, outside the space)."""
    return [p for p in sweep["points"] if set(p["overrides"]) == set(SPACE)]


def _best_swept(sweep: dict[str, Any], target: float) -> dict[str, Any]:
    meeting = [p for p in _space_points(sweep) if p["slo_attainment"] >= target]
    assert meeting, "no swept point meets the SLO: the space says nothing"
    return min(meeting, key=lambda p: p["gpu_hours"])


def test_tuned_profile_meets_its_slo_within_5_percent_of_the_swept_best(
    runs: dict[str, Any],
) -> None:
    tune, sweep = runs["tune"], runs["sweep"]
    assert len(_space_points(sweep)) == 16 and tune["replays"]["distinct"] == TRIALS
    assert tune["sampler"].startswith("TPE")
    profile = load_profile(runs["folder"] / "tune" / "profile.yaml")
    target = profile.ttft_slo_attainment
    assert target == TARGET
    pick, best = tune["pick"], _best_swept(sweep, target)
    cheaper_misses = [p for p in _space_points(sweep) if p["gpu_hours"] < best["gpu_hours"]]
    assert cheaper_misses  # the SLO decides: the cheapest points miss it
    assert pick["meets_slo"] and pick["slo_attainment"] >= target
    assert pick["gpu_hours"] <= 1.05 * best["gpu_hours"]
    print(
        f"tune: trial {pick['trial']} {pick['params']} {pick['gpu_hours']:.1f} GPU-h, "
        f"{pick['slo_attainment']:.4%}; swept best: {best['overrides']} "
        f"{best['gpu_hours']:.1f} GPU-h, {best['slo_attainment']:.4%}"
    )


def test_the_written_profile_is_the_replay_the_sweep_measured(runs: dict[str, Any]) -> None:
    """The profile file resolves to the same replay (the same cache key) as a swept point,
    so its replay is the one measured: no replay needed here to know its numbers."""
    tune, sweep = runs["tune"], runs["sweep"]
    assert tune["replays"]["replayed"] == 0  # every candidate was a swept point
    profile = load_profile(runs["folder"] / "tune" / "profile.yaml")
    trace = load_traces([TraceRef(runs["trace"], "azure2024", 0)], None)[0]
    key = make_task(trace, profile, 0, code_fingerprint()).key
    swept = next(p for p in sweep["points"] if p["key"] == key)
    cached = ResultCache(runs["folder"] / "sweep" / "cache").get(key)
    assert cached is not None
    assert swept["gpu_hours"] == cached.metrics["gpu_hours"] == tune["pick"]["gpu_hours"]
    assert swept["slo_attainment"] == tune["pick"]["slo_attainment"]
