"""A small seeded trace through every policy: the fresh replay must order the policies as the
project claims, and must keep giving the same summary.

Two kinds of test share one replay (a module fixture, ~3 s):
- ordering: relations any correct predictive plan keeps, asserted on the FRESH result (a
  plan that changes the numbers but breaks a relation fails here, whatever the snapshot);
- snapshot: the whole pipeline (synthesis, fleet, engine, baselines, summary) as a
  regression check. A deliberate model change regenerates it:
      UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/simulations/test_golden_replay.py
  and the diff of golden/small_replay.json goes into review with the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from autoscaler.profile import BUNDLED_PROFILE, load_profile
from simulations.fleet.physics import FleetPhysics
from simulations.report import build_summary
from simulations.runner import POLICY_NAMES, simulate
from simulations.traces.synthetic import synthetic_trace
from simulations.warmup import default_warmup_s

GOLDEN = Path(__file__).parent / "golden" / "small_replay.json"


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    trace = synthetic_trace(duration_s=8 * 3600, mean_rps=8.0, burst_rate_per_day=6, seed=11)
    profile = load_profile(BUNDLED_PROFILE)
    warmup_s = default_warmup_s(trace.duration_s)  # as `prewarm simulate` does: 2 h here
    physics = FleetPhysics.from_profile(profile)
    runs = simulate(trace, profile, physics, POLICY_NAMES, seed=11, warmup_s=warmup_s)
    fresh = build_summary(
        trace.describe(),
        runs[0].ttft_s.size,
        trace.duration_s - warmup_s,
        runs,
        warmup_s=warmup_s,
    )
    return json.loads(json.dumps(fresh))  # as written and read back


@pytest.fixture(scope="module")
def policies(summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    return summary["policies"]


# --- ordering, on the fresh replay -----------------------------------------------------------


def test_every_policy_is_replayed(policies: dict[str, dict[str, float]]) -> None:
    assert list(policies) == list(POLICY_NAMES)


def test_the_oracle_meets_the_slo(policies: dict[str, dict[str, float]]) -> None:
    assert policies["oracle"]["slo_attainment"] >= 0.99
    assert policies["oracle"]["dropped_requests"] == 0


def test_no_policy_is_both_cheaper_than_the_oracle_and_better_at_the_slo(
    policies: dict[str, dict[str, float]],
) -> None:
    """Perfect foresight is the limit: a policy may undercut it by running hotter, but then
    it meets the SLO less often (reactive-tokens does, here)."""
    oracle = policies["oracle"]
    for name, p in policies.items():
        if name != "oracle" and p["gpu_hours"] < oracle["gpu_hours"]:
            assert p["slo_attainment"] < oracle["slo_attainment"], name


def test_predictive_meets_the_slo_target(policies: dict[str, dict[str, float]]) -> None:
    """Issue 17's bar: at least min(99 %, the oracle's attainment - 0.3 points)."""
    bar = min(0.99, policies["oracle"]["slo_attainment"] - 0.003)
    assert policies["predictive"]["slo_attainment"] >= bar


def test_predictive_beats_queue_threshold_scaling_on_slo_and_cost(
    policies: dict[str, dict[str, float]],
) -> None:
    predictive, reactive = policies["predictive"], policies["reactive"]
    assert predictive["slo_attainment"] > reactive["slo_attainment"]
    assert predictive["gpu_hours"] < reactive["gpu_hours"]


def test_no_baseline_is_both_cheaper_than_predictive_and_better_at_the_slo(
    policies: dict[str, dict[str, float]],
) -> None:
    """Predictive is on the frontier at this point: whatever baseline is cheaper meets the SLO
    less often. Every replayed policy but the oracle counts, so a baseline added to
    POLICY_NAMES is held to it at once. (Issue 17 asks more, over sweeps; one point each is
    what a fast test can hold.)"""
    predictive = policies["predictive"]
    for name in set(policies) - {"predictive", "oracle"}:
        if policies[name]["gpu_hours"] < predictive["gpu_hours"]:
            assert policies[name]["slo_attainment"] < predictive["slo_attainment"], name


def test_predictive_is_cheaper_than_a_fleet_sized_for_the_peak(
    policies: dict[str, dict[str, float]],
) -> None:
    """Scaling with the daily cycle must pay for itself against static peak sizing."""
    assert policies["predictive"]["gpu_hours"] < policies["static"]["gpu_hours"]


def test_static_never_changes(policies: dict[str, dict[str, float]]) -> None:
    static = policies["static"]
    assert static["replica_changes"] == 0
    assert static["mean_replicas"] == static["peak_replicas"]


# --- snapshot --------------------------------------------------------------------------------


def test_small_replay_matches_golden(summary: dict[str, Any]) -> None:
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
