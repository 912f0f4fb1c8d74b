"""Forecaster kinds are declared once (kinds.MEMBER_KINDS): the profile's union, the ensemble's
members, the registry, the backtest/tune defaults, the tuning grid and the docs agree."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from autoscaler.backtest.rolling import SLOW_KINDS, default_kinds
from autoscaler.backtest.series import DemandSeries
from autoscaler.forecast.ensemble import EnsembleSettings
from autoscaler.forecast.kinds import MEMBER_KINDS, MemberSettings, check_kinds
from autoscaler.forecast.last_value import LastValueForecaster, LastValueSettings
from autoscaler.forecast.registry import FORECASTERS, ForecastSettings
from simulations.tune.forecast_error import candidates

DOCS = Path(__file__).resolve().parents[3] / "docs"


def union_kinds(annotated: Any) -> list[str]:
    """The `kind` tags of an Annotated[A | B | ..., discriminator], in order."""
    union, _ = typing.get_args(annotated)
    return [model.model_fields["kind"].default for model in typing.get_args(union)]


def test_the_registry_is_the_members_plus_the_ensemble() -> None:
    assert list(FORECASTERS) == [*MEMBER_KINDS, "ensemble"]
    assert {k: v for k, v in FORECASTERS.items() if k != "ensemble"} == MEMBER_KINDS


def test_the_settings_unions_are_built_from_the_declaration() -> None:
    assert union_kinds(ForecastSettings) == list(FORECASTERS)
    assert union_kinds(MemberSettings) == list(MEMBER_KINDS)


@pytest.mark.parametrize("kind", list(FORECASTERS))
def test_every_kind_parses_as_a_profile_forecast(kind: str) -> None:
    settings = TypeAdapter(ForecastSettings).validate_python({"kind": kind})
    assert isinstance(settings, FORECASTERS[kind][0])


@pytest.mark.parametrize("kind", list(MEMBER_KINDS))
def test_every_member_kind_joins_an_ensemble(kind: str) -> None:
    ensemble = EnsembleSettings(members=[{"kind": kind}])  # type: ignore[list-item]
    assert [m.kind for m in ensemble.members] == [kind]


def test_an_ensemble_is_no_member_and_the_error_lists_the_members() -> None:
    with pytest.raises(ValidationError) as caught:
        EnsembleSettings(members=[{"kind": "ensemble"}])  # type: ignore[list-item]
    expected = ", ".join(f"'{kind}'" for kind in MEMBER_KINDS)
    assert f"expected tags: {expected}" in str(caught.value)


def test_a_name_that_is_not_its_models_tag_is_refused() -> None:
    with pytest.raises(ValueError, match="kind 'latest' has settings of kind 'last-value'"):
        check_kinds({"latest": (LastValueSettings, LastValueForecaster)})


def test_the_tuning_grid_covers_every_default_kind() -> None:
    assert default_kinds() == [kind for kind in FORECASTERS if kind not in SLOW_KINDS]
    series = DemandSeries(0.0, 300.0, np.ones(3 * 288), "tokens/s", "flat", "test")
    grid = candidates(list(FORECASTERS), series, quantiles=(0.9,))
    assert list(dict.fromkeys(c.kind for c in grid)) == list(FORECASTERS)


def test_the_docs_list_the_kinds_in_the_declared_order() -> None:
    # The forecasters page's table of kinds, and the profile reference's `forecast.kind` row.
    text = (DOCS / "forecasting.md").read_text()
    table = re.findall(r"^\| `([a-z-]+)` \| [^|]+ \| [^|]+ \|$", text, flags=re.MULTILINE)
    assert [kind for kind in table if kind in FORECASTERS] == list(FORECASTERS)
    text = (DOCS / "decision.md").read_text()
    (row,) = re.findall(r"^\| `forecast\.kind` \| `[a-z-]+` \| (.+) \(see", text, re.MULTILINE)
    assert re.findall(r"`([a-z-]+)`", row) == list(FORECASTERS)
