"""Profiles are validated at the edge: typos and bad values fail loudly, naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import autoscaler
from autoscaler.forecast.registry import FORECASTERS
from autoscaler.profile import DEFAULT_FORECAST_KIND, ProfileError, load_profile, parse_profile
from tests.fakes import profile_data

DEFAULT_YAML = Path(autoscaler.__file__).parent / "profiles" / "default.yaml"


def _error_lines(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ProfileError) as info:
        parse_profile(data, "test.yaml")
    message = str(info.value)
    assert message.startswith("test.yaml: invalid profile")
    return [line.strip() for line in message.splitlines()[1:]]


def test_default_profile_loads_with_its_documented_values() -> None:
    profile = load_profile(DEFAULT_YAML)
    assert profile.model == "llama-3.1-8b-instruct"
    assert profile.capacity.prompt_tokens_per_s == 8000
    assert profile.capacity.kv_cache_tokens == 400_000
    assert (profile.replicas.min, profile.replicas.max) == (1, 64)
    assert profile.scaling.scale_down_delay_s == 120
    assert (profile.staleness.hold_after_s, profile.staleness.error_after_s) == (90, 600)
    assert profile.forecast.kind in FORECASTERS
    assert (profile.forecast.bucket_s, profile.forecast.quantile) == (60, 0.95)
    assert profile.horizon_s == 300 + 15  # cold start + one decision interval


@pytest.mark.parametrize(
    ("overrides", "expected_line"),
    [
        ({"cold_start": 300}, "cold_start: unknown key"),
        ({"capacity": {"prompt_tokens": 1}}, "capacity.prompt_tokens: unknown key"),
        ({"scaling": {"scale_down_delay": 60}}, "scaling.scale_down_delay: unknown key"),
        ({"staleness": {"hold_s": 60}}, "staleness.hold_s: unknown key"),
    ],
    ids=["top-level", "capacity", "scaling", "staleness"],
)
def test_unknown_key_is_named_by_dotted_path(overrides: dict, expected_line: str) -> None:
    assert expected_line in _error_lines(profile_data(**overrides))


def test_unknown_forecast_key_is_rejected_and_named() -> None:
    lines = _error_lines(profile_data(forecast={"kind": "seasonal-naive", "seasn_s": 3600}))
    assert len(lines) == 1
    assert lines[0].startswith("forecast.")
    assert lines[0].endswith("seasn_s: unknown key")


def test_unknown_forecast_key_path_matches_the_file() -> None:
    lines = _error_lines(profile_data(forecast={"kind": "seasonal-naive", "seasn_s": 3600}))
    assert lines == ["forecast.seasn_s: unknown key"]


def test_every_error_is_reported_at_once() -> None:
    data = profile_data(
        cold_start=300,
        capacity={"prompt_tokens_per_s": -1},
        replicas={"min": 5, "max": 2},
        forecast={"kind": "last-value", "quantile": 2.0},
    )
    lines = _error_lines(data)
    assert len(lines) == 4, lines
    for path in ("cold_start:", "capacity.prompt_tokens_per_s:", "replicas:", "forecast."):
        assert any(line.startswith(path) for line in lines), (path, lines)


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"capacity": {"prompt_tokens_per_s": -8000}}, "capacity.prompt_tokens_per_s", "greater"),
        ({"capacity": {"kv_cache_tokens": 0}}, "capacity.kv_cache_tokens", "greater"),
        ({"replicas": {"min": 8, "max": 4}}, "replicas", "replicas.min (8) is above"),
        (
            {"staleness": {"hold_after_s": 120, "error_after_s": 60}},
            "staleness",
            "error_after_s must be >= staleness.hold_after_s",
        ),
        ({"staleness": {"hold_after_s": 900}}, "staleness", "error_after_s"),
        ({"forecast": {"kind": "arima"}}, "forecast", "'arima'"),
        ({"target_utilisation": 1.5}, "target_utilisation", "less than or equal"),
        ({"forecast": {"kind": "last-value", "quantile": 0.4}}, "forecast.", "quantile"),
        # YAML's `.inf`: accepted, an infinite cold start crashed the first decision.
        ({"cold_start_s": float("inf")}, "cold_start_s", "finite"),
        ({"scaling": {"max_up_factor": float("inf")}}, "scaling.max_up_factor", "finite"),
        # A finite typo (1e12 s) asked the forecaster for more steps than memory holds.
        ({"cold_start_s": 1e12}, "cold_start_s", "less than or equal to 7200"),
    ],
    ids=[
        "negative-capacity",
        "zero-kv-budget",
        "min-above-max",
        "error-before-hold",
        "hold-above-default-error",
        "unknown-forecast-kind",
        "utilisation-above-1",
        "quantile-below-median",
        "infinite-cold-start",
        "infinite-up-factor",
        "cold-start-over-two-hours",
    ],
)
def test_bad_value_names_its_field(overrides: dict, field: str, words: str) -> None:
    lines = _error_lines(profile_data(**overrides))
    assert len(lines) == 1, lines
    assert lines[0].startswith(field)
    assert words in lines[0]


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ProfileError, match="nope.yaml: profile file not found"):
        load_profile(path)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("model: [unclosed\n", "not valid YAML"),
        ("model: m\n  capacity: {\n", "not valid YAML"),
        ("", "invalid profile"),
        ("- a\n- list\n", "invalid profile"),
    ],
    ids=["unclosed-flow", "bad-indent", "empty-file", "not-a-mapping"],
)
def test_unreadable_yaml_names_the_file(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(info.value).startswith(f"{path}: ")
    assert words in str(info.value)


def test_profile_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "model: m\n"
        "capacity: {prompt_tokens_per_s: 1000, generation_tokens_per_s: 100, "
        "kv_cache_tokens: 5000}\n"
        "forecast: {kind: holt-winters, fit_bucket_s: 600}\n"
    )
    profile = load_profile(path)
    assert profile.forecast.kind == "holt-winters"
    assert profile.forecast.fit_bucket_s == 600
    assert profile.replicas.min == 1  # defaults fill what the file leaves out


def test_forecast_block_without_kind_takes_the_default_kind() -> None:
    profile = parse_profile(profile_data(forecast={"quantile": 0.9}))
    assert profile.forecast.kind == DEFAULT_FORECAST_KIND
    assert profile.forecast.quantile == 0.9


@pytest.mark.parametrize("interval_s", [15.0, 60.0], ids=["within-a-bucket", "one-per-bucket"])
def test_deciding_at_least_once_per_bucket_is_accepted(interval_s: float) -> None:
    assert parse_profile(profile_data(decision_interval_s=interval_s)).decision_interval_s == (
        interval_s
    )


def test_deciding_less_than_once_per_bucket_is_rejected_naming_both_fields() -> None:
    """The upper quantile would never calibrate: no bucket gets a forecast from every origin."""
    lines = _error_lines(profile_data(decision_interval_s=120, forecast={"bucket_s": 60}))
    assert len(lines) == 1, lines
    assert "decision_interval_s (120) is above forecast.bucket_s (60)" in lines[0]


def test_typical_request_is_parsed_and_checked() -> None:
    parsed = parse_profile(profile_data(typical_request={"prompt_tokens": 500}))
    assert (parsed.typical_request.prompt_tokens, parsed.typical_request.output_tokens) == (
        500,
        256,
    )
    lines = _error_lines(profile_data(typical_request={"output_tokens": 0}))
    assert lines[0].startswith("typical_request.output_tokens") and "greater" in lines[0]
