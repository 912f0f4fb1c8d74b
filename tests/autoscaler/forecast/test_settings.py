"""Every kind validates its settings, is built by the registry, and loads from a profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from autoscaler.forecast.registry import FORECASTERS, ForecastSettings, build_forecaster
from autoscaler.profile import ProfileError, load_profile, parse_profile
from tests.fakes import profile_data

KINDS = sorted(FORECASTERS)
ADAPTER: TypeAdapter[Any] = TypeAdapter(ForecastSettings)


@pytest.mark.parametrize("kind", KINDS, ids=KINDS)
def test_registry_builds_a_fresh_forecaster_for_every_kind(kind: str) -> None:
    settings_cls, factory = FORECASTERS[kind]
    settings = settings_cls()
    assert settings.kind == kind
    first, second = build_forecaster(settings), build_forecaster(settings)
    assert isinstance(first, factory) and first is not second


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"kind": "sarimax", "order": [9, 0, 0]}, "order"),
        ({"kind": "sarimax", "harmonic": 3}, "harmonic"),
        ({"kind": "sarimax", "weekly_harmonics": 2}, "history_s"),
        ({"kind": "mstl", "min_alpha": 2}, "min_alpha"),
        ({"kind": "mstl", "weekly": True}, "history_s"),
        ({"kind": "kalman", "bucket_s": 60, "fit_bucket_s": 250}, "fit_bucket_s"),
        ({"kind": "kalman", "season_s": 1000}, "season_s"),
        ({"kind": "kalman", "min_level_snr": -1}, "min_level_snr"),
        ({"kind": "arima-per-interval", "window_buckets": 2}, "window_buckets"),
        ({"kind": "arima-per-interval", "order": [1, 3, 1]}, "order"),
        ({"kind": "ensemble", "members": []}, "members"),
        ({"kind": "ensemble", "members": [{"kind": "ensemble"}]}, "ensemble"),
        ({"kind": "ensemble", "members": [{"kind": "kalman", "bucket_s": 300}]}, "bucket_s"),
        ({"kind": "seasonal-naive", "season_s": 604800}, "history_s"),
        ({"kind": "holt-winters", "initialization": "guessed"}, "initialization"),
        ({"kind": "holt-winters", "season_s": 1000}, "season_s (1000) must be a multiple"),
        ({"kind": "holt-winters", "fit_bucket_s": 90}, "fit_bucket_s (90) must be a multiple"),
        ({"kind": "holt-winters", "season_s": 604800}, "history_s (259200) must be at least"),
        ({"kind": "seasonal-naive", "bucket_s": 700}, "season_s (86400) must be a multiple"),
    ],
    ids=[
        "sarimax-order",
        "sarimax-typo",
        "sarimax-weekly-short-history",
        "mstl-min-alpha",
        "mstl-weekly-short-history",
        "kalman-fit-bucket",
        "kalman-season",
        "kalman-snr",
        "arima-window",
        "arima-order",
        "ensemble-empty",
        "ensemble-nested",
        "ensemble-member-bucket",
        "seasonal-naive-weekly-short-history",
        "holt-winters-initialization",
        "holt-winters-season-not-whole-fit-buckets",
        "holt-winters-fit-bucket-not-whole-buckets",
        "holt-winters-weekly-short-history",
        "seasonal-naive-season-not-whole-buckets",
    ],
)
def test_bad_settings_name_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError) as info:
        ADAPTER.validate_python(data)
    assert key in str(info.value)


def test_ensemble_members_inherit_the_ensemble_grid() -> None:
    settings = ADAPTER.validate_python(
        {
            "kind": "ensemble",
            "bucket_s": 300,
            "history_s": 4 * 86400,
            "quantile": 0.9,
            "members": [{"kind": "kalman"}],
        }
    )
    assert settings.members[0].bucket_s == 300
    assert settings.members[0].history_s == 4 * 86400
    assert settings.members[0].quantile == 0.9  # a written profile must not contradict itself


def test_ensemble_defaults_to_three_members() -> None:
    settings = ADAPTER.validate_python({"kind": "ensemble"})
    assert [m.kind for m in settings.members] == ["sarimax", "holt-winters", "last-value"]


def test_seasonal_naive_accepts_a_weekly_season_with_eight_days_kept() -> None:
    settings = ADAPTER.validate_python(
        {"kind": "seasonal-naive", "season_s": 604800, "history_s": 8 * 86400}
    )
    assert settings.season_s == 604800


PROFILE_FORECASTS = {
    "last-value": {},
    "seasonal-naive": {"season_s": 604800, "history_s": 691200},
    "holt-winters": {"fit_bucket_s": 300},
    "sarimax": {"order": [2, 0, 1], "harmonics": 6},
    "mstl": {"weekly": True, "history_s": 1209600},
    "kalman": {"min_level_snr": 0.2},
    "arima-per-interval": {"window_buckets": 120},
    "ensemble": {"members": [{"kind": "kalman"}, {"kind": "seasonal-naive"}]},
}


@pytest.mark.parametrize("kind", KINDS, ids=KINDS)
def test_every_kind_loads_from_a_yaml_profile(kind: str, tmp_path: Path) -> None:
    assert set(PROFILE_FORECASTS) == set(FORECASTERS)  # a new kind needs a row here
    path = tmp_path / "profile.yaml"
    forecast = {"kind": kind, "quantile": 0.9, **PROFILE_FORECASTS[kind]}
    path.write_text(yaml.safe_dump(profile_data(forecast=forecast)))
    profile = load_profile(path)
    assert profile.forecast.kind == kind and profile.forecast.quantile == 0.9
    build_forecaster(profile.forecast)


def test_a_bad_ensemble_member_key_is_named_by_its_file_path() -> None:
    data = profile_data(
        forecast={"kind": "ensemble", "members": [{"kind": "kalman", "min_level_snr": -1}]}
    )
    with pytest.raises(ProfileError) as info:
        parse_profile(data, "test.yaml")
    assert "forecast.members.0.min_level_snr:" in str(info.value)
