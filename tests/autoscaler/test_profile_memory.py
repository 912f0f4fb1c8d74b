"""A profile bounds what its model may hold in memory: fields valid alone whose product asks
for gigabytes are refused at load, naming the fields, the computed size and the limit."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import autoscaler
from autoscaler.engine import ModelEngine
from autoscaler.forecast.memory_limits import (
    MAX_ERROR_CELLS,
    MAX_HISTORY_BUCKETS,
    MAX_HORIZON_STEPS,
    horizon_steps,
)
from autoscaler.observation import Observation
from autoscaler.profile import ProfileError, load_profile, parse_profile
from tests.fakes import profile_data

REPO = Path(autoscaler.__file__).parents[1]
SHIPPED = [
    REPO / "autoscaler" / "profiles" / "default.yaml",
    REPO / "deploy" / "config" / "llama-3.1-8b.yaml",
    REPO / "deploy" / "config" / "llama-3.1-405b.yaml",
]


def _message(data: dict[str, Any]) -> str:
    with pytest.raises(ProfileError) as info:
        parse_profile(data, "test.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        # The probe: valid field by field, `serve --check` passed, 2.5 GB for one model.
        (
            {"cold_start_s": 7200, "decision_interval_s": 1, "forecast": {"bucket_s": 1}},
            ["7,202 forecast steps", f"limit of {MAX_HORIZON_STEPS}", "MAX_HORIZON_STEPS"],
        ),
        (
            {"decision_interval_s": 0.001, "forecast": {"bucket_s": 0.001}},
            ["259,200,000 buckets of history", "MAX_HISTORY_BUCKETS", "MAX_HORIZON_STEPS"],
        ),
        (
            {"forecast": {"history_s": 1e13}},
            ["forecast.history_s / forecast.bucket_s", "166,666,666,667 buckets"],
        ),
        (
            {"forecast": {"error_window_s": 1e13}},
            ["forecast.error_window_s", "calibration error cells", f"{MAX_ERROR_CELLS:,}"],
        ),
        (
            {"forecast": {"kind": "ensemble", "error_window_s": 86400 * 120}},
            ["x 3 members", "MAX_ERROR_CELLS"],
        ),
        ({"forecast": {"history_s": float("inf")}}, ["history_s", "finite"]),
    ],
    ids=[
        "one-second-buckets-two-hour-cold-start",
        "millisecond-buckets",
        "history-1e13",
        "error-window-1e13",
        "ensemble-members-count",
        "infinite-history",
    ],
)
def test_a_profile_asking_for_too_much_memory_is_refused_naming_fields_and_limit(
    overrides: dict[str, Any], words: list[str]
) -> None:
    message = _message(profile_data(**overrides))
    for word in words:
        assert word in message


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_shipped_profiles_are_far_inside_the_limits(path: Path) -> None:
    profile = load_profile(path)
    settings = profile.forecast
    assert settings.history_s / settings.bucket_s * 50 < MAX_HISTORY_BUCKETS
    steps = horizon_steps(profile.horizon_s, settings.bucket_s)
    assert steps * 25 < MAX_HORIZON_STEPS
    assert settings.error_window_s / settings.bucket_s * (steps + 1) * 25 < MAX_ERROR_CELLS


def test_a_profile_at_every_limit_at_once_stays_small() -> None:
    """15 s buckets: the longest cold start allowed, the most history, the widest error ring
    that fit. The error ring and the history are allocated by the first forecasts."""
    data = profile_data(
        cold_start_s=7200 - 30,
        decision_interval_s=15,
        forecast={
            "kind": "last-value",
            "bucket_s": 15,
            "history_s": 15 * MAX_HISTORY_BUCKETS,
            "error_window_s": 15 * (MAX_ERROR_CELLS // MAX_HORIZON_STEPS),
        },
    )
    profile = parse_profile(data)
    assert horizon_steps(profile.horizon_s, 15) == 480
    tracemalloc.start()
    try:
        engine = ModelEngine(profile, initial_replicas=1)
        for i in range(40):
            engine.observe(Observation(i * 15.0, 100.0, 50.0, 0, 0, 0, 1))
            engine.decide(i * 15.0)
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_bytes < 64e6, f"{peak_bytes / 1e6:.0f} MB"
