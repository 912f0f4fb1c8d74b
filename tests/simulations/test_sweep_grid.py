"""`--set` parsing and validation: ranges, lists, single values, every bad one named."""

from __future__ import annotations

import pytest

from simulations.sweep.grid import GridError, apply_overrides, build_grid, parse_set
from tests.simulations.sweep_helpers import base_profile


@pytest.mark.parametrize(
    ("spec", "path", "values"),
    [
        ("target_utilisation=0.5:0.9:0.1", "target_utilisation", (0.5, 0.6, 0.7, 0.8, 0.9)),
        ("forecast.quantile=0.8,0.9,0.95", "forecast.quantile", (0.8, 0.9, 0.95)),
        ("scaling.scale_down_delay_s=0:600:300", "scaling.scale_down_delay_s", (0, 300, 600)),
        ("scaling.scale_down_delay_s=0:700:300", "scaling.scale_down_delay_s", (0, 300, 600)),
        ("cold_start_s=120", "cold_start_s", (120,)),
        ("forecast.kind=naive", "forecast.kind", ("naive",)),
        ("forecast.damped_trend=false", "forecast.damped_trend", (False,)),
        ("target_utilisation=0.1:0.3:0.1", "target_utilisation", (0.1, 0.2, 0.3)),
        ("target_utilisation=0.7,0.7,0.8", "target_utilisation", (0.7, 0.8)),
        (" target_utilisation = 0.7 , 0.8 ", "target_utilisation", (0.7, 0.8)),
    ],
    ids=[
        "float-range-inclusive",
        "list",
        "int-range",
        "range-stops-before-overshoot",
        "single",
        "text",
        "bool",
        "float-safe-0.3",
        "repeats-dropped",
        "spaces",
    ],
)
def test_parse_set(spec: str, path: str, values: tuple[object, ...]) -> None:
    axis = parse_set(spec)
    assert axis.path == path
    assert axis.values == values
    assert [type(v) for v in axis.values] == [type(v) for v in values]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("target_utilisation", "expected path=values"),
        ("=0.5", "expected path=values"),
        ("forecast..quantile=0.9", "is not a dotted path"),
        ("target_utilisation=0.5:0.9", "start:stop:step"),
        ("target_utilisation=0.9:0.5:0.1", "stop >= start"),
        ("target_utilisation=0.5:0.9:0", "step > 0"),
        ("target_utilisation=a:b:c", "needs numbers"),
        ("target_utilisation=0:inf:1", "finite"),
        ("target_utilisation=0:1:0.0001", "at most 1,000 per key"),
    ],
    ids=[
        "no-equals",
        "no-path",
        "empty-part",
        "two-parts",
        "reversed",
        "zero-step",
        "text",
        "inf",
        "too-many",
    ],
)
def test_parse_set_errors(spec: str, message: str) -> None:
    with pytest.raises(GridError, match=message):
        parse_set(spec)


def test_grid_is_the_product_in_set_order() -> None:
    grid = build_grid(
        ["target_utilisation=0.5:0.9:0.1", "forecast.quantile=0.8,0.9,0.95"], base_profile()
    )
    combos = grid.combinations()
    assert grid.size == len(combos) == 15
    assert combos[0] == (("target_utilisation", 0.5), ("forecast.quantile", 0.8))
    assert combos[1] == (("target_utilisation", 0.5), ("forecast.quantile", 0.9))
    assert combos[-1] == (("target_utilisation", 0.9), ("forecast.quantile", 0.95))


def test_no_set_is_one_empty_combination() -> None:
    assert build_grid([], base_profile()).combinations() == [()]


def test_every_bad_path_and_value_is_named_at_once() -> None:
    with pytest.raises(GridError) as caught:
        build_grid(
            [
                "target_utilisation=0.5,1.5",
                "forecast.quantil=0.9",
                "capacity.prompt_tokens_per_s.x=1",
                "cold_start_s=abc",
                "scaling.scale_down_delay_s=-1",
            ],
            base_profile(),
        )
    message = str(caught.value)
    assert "target_utilisation=1.5" in message and "less than or equal to 1" in message
    assert "target_utilisation=0.5" not in message  # the good value is not blamed
    assert "forecast.quantil: unknown key" in message
    assert "capacity.prompt_tokens_per_s is a value, not a section" in message
    assert "cold_start_s=abc" in message
    assert "scaling.scale_down_delay_s=-1" in message


def test_the_same_path_twice_is_refused() -> None:
    with pytest.raises(GridError, match="given twice"):
        build_grid(["target_utilisation=0.5", "target_utilisation=0.6"], base_profile())


def test_combinations_are_checked_as_whole_profiles() -> None:
    # Each value is valid alone; together min > max.
    with pytest.raises(GridError, match=r"replicas\.min \(10\) is above replicas\.max \(8\)"):
        build_grid(["replicas.min=1,10", "replicas.max=8,64"], base_profile())


def test_overrides_leave_the_base_untouched() -> None:
    base = base_profile().model_dump(mode="json")
    changed = apply_overrides(base, (("forecast.quantile", 0.5),))
    assert changed["forecast"]["quantile"] == 0.5
    assert base["forecast"]["quantile"] == 0.95
