"""The search space: --range/--choices parsed and checked, defaults narrowed, conditional
forecast settings, candidates resolved like sweep points."""

from __future__ import annotations

import pytest

from simulations.sweep.grid import resolve
from simulations.tune.candidate import candidate_profile
from simulations.tune.search_space import (
    DEFAULT_AXES,
    Axis,
    SpaceError,
    build_space,
    parse_choices,
    parse_range,
)
from tests.simulations.tune_helpers import base_profile


@pytest.mark.parametrize(
    ("spec", "axis"),
    [
        ("target_utilisation=0.5:0.9", Axis("target_utilisation", "float", 0.5, 0.9, None)),
        ("target_utilisation=0.5:0.9:0.1", Axis("target_utilisation", "float", 0.5, 0.9, 0.1)),
        ("scaling.max_up_replicas=1:8", Axis("scaling.max_up_replicas", "int", 1, 8, 1)),
        ("scaling.scale_down_delay_s=0:600:120",
         Axis("scaling.scale_down_delay_s", "int", 0, 600, 120)),
    ],
    ids=["float", "float-step", "int", "int-step"],
)  # fmt: skip
def test_parse_range(spec: str, axis: Axis) -> None:
    assert parse_range(spec) == axis


def test_values_of_a_stepped_range_are_exact() -> None:
    assert parse_range("target_utilisation=0.5:0.9:0.1").values == (0.5, 0.6, 0.7, 0.8, 0.9)
    assert parse_range("target_utilisation=0.5:0.9").values is None  # continuous


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("target_utilisation", "expected path=values"),
        ("target_utilisation=0.9:0.5", "low <= high"),
        ("target_utilisation=a:b", "needs numbers"),
        ("target_utilisation=0.5", "low:high"),
        ("target_utilisation=0.5:inf", "finite"),
        ("forecast.kind=a:b", "use --choices"),
    ],
    ids=["no-values", "reversed", "text", "one-number", "inf", "kind"],
)
def test_bad_range_names_the_problem(spec: str, message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        parse_range(spec)


def test_choices_parse_scalars() -> None:
    axis = parse_choices("forecast.kind=holt-winters, ensemble")
    assert axis.choices == ("holt-winters", "ensemble")
    assert parse_choices("forecast.damped_trend=true,false").choices == (True, False)


def test_default_space_is_narrowed_by_the_operator() -> None:
    space = build_space(
        base_profile(), ["target_utilisation=0.6:0.8:0.1"], ["forecast.kind=holt-winters"]
    )
    assert [a.path for a in space.axes][0] == "forecast.kind"
    assert space.axis("target_utilisation") == Axis("target_utilisation", "float", 0.6, 0.8, 0.1)
    assert space.kinds == ("holt-winters",)
    # seasonal-naive's level window is dropped: no searched kind has it.
    assert space.axis("forecast.level_window_s") is None
    assert space.axis("forecast.damped_trend") is not None
    assert {a.path for a in space.axes} >= {a.path for a in DEFAULT_AXES} - {
        "forecast.level_window_s"
    }


def test_given_space_searches_only_the_given_axes() -> None:
    space = build_space(
        base_profile(),
        ["scaling.scale_down_delay_s=0:600:300"],
        ["target_utilisation=0.7,0.8"],
        space="given",
    )
    assert [a.path for a in space.axes] == ["scaling.scale_down_delay_s", "target_utilisation"]
    assert space.size == 6


def test_size_counts_conditional_settings_per_kind() -> None:
    space = build_space(
        base_profile(),
        [],
        ["forecast.kind=holt-winters,last-value", "forecast.damped_trend=true,false",
         "target_utilisation=0.7,0.8"],
        space="given",
    )  # fmt: skip
    assert space.size == 2 * 2 + 1 * 2  # last-value has no damped_trend


def test_every_bad_value_is_named_at_once() -> None:
    with pytest.raises(SpaceError) as info:
        build_space(
            base_profile(),
            ["forecast.quantile=0.2:0.95", "nope.key=1:2"],
            ["forecast.kind=holt-winters,prophet"],
        )
    text = str(info.value)
    assert "unknown kind(s) prophet" in text
    assert "forecast.quantile: Input should be greater than 0.5" in text
    assert "nope: unknown key" in text


def test_setting_no_searched_kind_has_is_refused() -> None:
    with pytest.raises(SpaceError, match="not a setting of any searched kind"):
        build_space(
            base_profile(), [], ["forecast.kind=last-value", "forecast.damped_trend=true"], "given"
        )


def test_same_path_twice_and_empty_given_space() -> None:
    with pytest.raises(SpaceError, match="given twice"):
        build_space(base_profile(), ["target_utilisation=0.5:0.9"], ["target_utilisation=0.7"])
    with pytest.raises(SpaceError, match="give at least one"):
        build_space(base_profile(), space="given")
    with pytest.raises(SpaceError, match="unknown --space"):
        build_space(base_profile(), space="mine")


def test_candidate_resolves_like_a_sweep_point() -> None:
    base = base_profile()
    params = {"target_utilisation": 0.7, "forecast.quantile": 0.9}
    assert candidate_profile(base, params) == resolve(base, tuple(params.items()), "--set")


def test_candidate_of_another_kind_keeps_shared_settings() -> None:
    base = base_profile()
    profile = candidate_profile(base, {"forecast.kind": "last-value", "forecast.quantile": 0.9})
    assert profile.forecast.kind == "last-value"
    assert profile.forecast.quantile == 0.9
    assert profile.forecast.bucket_s == base.forecast.bucket_s


def test_fits_tells_whether_the_profile_is_a_point_of_the_space() -> None:
    space = build_space(base_profile(), [], ["target_utilisation=0.7,0.8"], "given")
    assert space.fits({"target_utilisation": 0.8})
    assert not space.fits({"target_utilisation": 0.75})
