"""A small seeded trace through every policy must keep giving the same summary.

The golden file is a regression snapshot of the whole pipeline (synthesis, fleet, engine,
baselines, summary). A deliberate model change regenerates it:
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/simulations/test_golden_replay.py
and the diff of golden/small_replay.json goes into review with the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autoscaler.cli.simulate import BUNDLED_PROFILE
from autoscaler.profile import load_profile
from simulations.fleet.physics import FleetPhysics
from simulations.report import build_summary
from simulations.runner import POLICY_NAMES, simulate
from simulations.traces.synthetic import synthetic_trace
from simulations.warmup import default_warmup_s

GOLDEN = Path(__file__).parent / "golden" / "small_replay.json"


def _replay() -> dict:
    trace = synthetic_trace(duration_s=8 * 3600, mean_rps=8.0, burst_rate_per_day=6, seed=11)
    profile = load_profile(BUNDLED_PROFILE)
    warmup_s = default_warmup_s(trace.duration_s)  # as `prewarm simulate` does: 2 h here
    physics = FleetPhysics.from_profile(profile)
    runs = simulate(trace, profile, physics, POLICY_NAMES, seed=11, warmup_s=warmup_s)
    return build_summary(
        trace.describe(),
        runs[0].ttft_s.size,
        trace.duration_s - warmup_s,
        runs,
        warmup_s=warmup_s,
    )


def test_small_replay_matches_golden() -> None:
    summary = json.loads(json.dumps(_replay()))
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(summary, indent=2) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert summary["requests"] == golden["requests"]
    assert summary["warmup_s"] == golden["warmup_s"]
    assert summary["trace"] == golden["trace"]
    assert list(summary["policies"]) == list(golden["policies"])
    for name, numbers in golden["policies"].items():
        for key, value in numbers.items():
            assert summary["policies"][name][key] == pytest.approx(value, rel=1e-4), (name, key)


def test_golden_ordering_is_sane() -> None:
    """Independent of the snapshot: the oracle is the cheapest policy meeting the SLO, and
    the predictive engine beats queue-threshold scaling on both SLO and cost."""
    p = json.loads(GOLDEN.read_text())["policies"]
    assert p["oracle"]["slo_attainment"] >= 0.99
    assert p["predictive"]["slo_attainment"] > p["reactive"]["slo_attainment"]
    assert p["predictive"]["gpu_hours"] < p["reactive"]["gpu_hours"]
    assert p["static"]["replica_changes"] == 0
