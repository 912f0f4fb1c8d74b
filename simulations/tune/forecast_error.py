"""`tune`: a small grid of forecaster settings per kind, ranked by what a wrong plan costs.

The grid is built from the settings fields a kind has, so kinds added later get one too:

    season_s       one day; also one week when the series spans three weeks or more
                   (history_s is then raised to two weeks and a day, so two seasons fit)
    level_window_s 0 (off), 30 min, 1 h
    damped_trend   true, false
    quantile       the operator's list (default 0.9, 0.95, 0.98): the objective below
                   weighs shortfall against idle capacity, and the quantile is the knob
                   that trades one for the other
    anything else  the kind's default

Objective (metrics.provisioning_cost): under_weight x shortfall + over_weight x excess,
both as shares of the peak demand over each origin's horizon, where what is provisioned is
the plan's peak (`Forecast.horizon_peak`, as the planner asks it; rolling.py). With
--under-weight 10 --over-weight 1, a token/s missing when needed costs as much as ten idle
ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from autoscaler.backtest import metrics
from autoscaler.backtest.evaluate import Score, score, scored_rows
from autoscaler.backtest.rolling import make_settings, rolling_origin
from autoscaler.backtest.series import DemandSeries
from autoscaler.forecast.registry import FORECASTERS

DAY_S, WEEK_S = 86400.0, 7 * 86400.0
DEFAULT_QUANTILES = (0.9, 0.95, 0.98)


@dataclass(frozen=True)
class Candidate:
    kind: str
    overrides: dict[str, Any]  # the grid's choices, quantile included
    settings: Any

    @property
    def label(self) -> str:
        """Short enough for an 80-column table: `holt-winters season=1d undamped q=0.9`."""
        parts = [
            _label(k, v)
            for k, v in self.overrides.items()
            if k != "history_s" and not (k == "season_s" and v == DAY_S)  # the usual season
        ]
        return " ".join([self.kind, *parts])


@dataclass(frozen=True)
class Trial:
    candidate: Candidate
    objective: float
    score: Score


def _label(key: str, value: Any) -> str:
    if key == "quantile":
        return f"q={value:g}"
    if key == "season_s":
        return (
            "season=1w"
            if value == WEEK_S
            else "season=1d"
            if value == DAY_S
            else f"season={value:g}s"
        )
    if key == "level_window_s":
        return f"level={value / 60:g}m" if value else "level=off"
    if key == "damped_trend":
        return "damped" if value else "undamped"
    return f"{key}={_short(value)}"


def _short(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:.0f}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def field_choices(fields: Sequence[str], series: DemandSeries) -> dict[str, list[Any]]:
    """The grid axes for a settings model with these field names (see the module doc)."""
    axes: dict[str, list[Any]] = {}
    if "season_s" in fields:
        axes["season_s"] = [DAY_S] + ([WEEK_S] if series.span_s >= 3 * WEEK_S else [])
    if "level_window_s" in fields:
        axes["level_window_s"] = [0.0, 1800.0, 3600.0]
    if "damped_trend" in fields:
        axes["damped_trend"] = [True, False]
    return axes


def candidates(
    kinds: Sequence[str], series: DemandSeries, quantiles: Sequence[float] = DEFAULT_QUANTILES
) -> list[Candidate]:
    """Every valid combination per kind; combinations a settings model rejects are skipped."""
    found: list[Candidate] = []
    for kind in kinds:
        if kind not in FORECASTERS:
            raise ValueError(f"unknown forecaster kind {kind!r}; known: {', '.join(FORECASTERS)}")
        settings_cls = cast("type[BaseModel]", FORECASTERS[kind][0])
        axes = field_choices(list(settings_cls.model_fields), series)
        names = list(axes)
        for combo in itertools.product(*(axes[n] for n in names)):
            choice = dict(zip(names, combo, strict=True))
            extra = {}
            if choice.get("season_s", 0.0) > DAY_S:
                extra["history_s"] = 2 * choice["season_s"] + DAY_S
            for q in quantiles:
                overrides = {**choice, "quantile": q}
                try:
                    settings = make_settings(kind, series.bucket_s, **overrides, **extra)
                except ValidationError:
                    continue
                found.append(Candidate(kind, {**overrides, **extra}, settings))
    return found


def run_trial(
    candidate: Candidate,
    series: DemandSeries,
    steps: int,
    *,
    stride: int,
    warmup_s: float,
    under_weight: float,
    over_weight: float,
    horizon_s: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Trial:
    """One rolling-origin backtest of a candidate, scored by the objective on the plan's
    peak. `horizon_s` defaults to `steps` whole buckets."""
    run = rolling_origin(
        series,
        candidate.settings,
        steps,
        horizon_s=horizon_s,
        stride=stride,
        on_progress=on_progress,
    )
    rows = scored_rows(run, series, warmup_s)
    objective, _, _ = metrics.provisioning_cost(
        run.actual_peaks(series)[rows], run.peak[rows], under_weight, over_weight
    )
    return Trial(candidate, objective, score(run, series, warmup_s))


def ranked(trials: Sequence[Trial]) -> list[Trial]:
    """Best first; NaN objectives (no demand at all) last. Ties keep the grid order."""
    return sorted(trials, key=lambda t: (t.objective != t.objective, t.objective))
