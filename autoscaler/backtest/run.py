"""One whole backtest of a series: the settings each kind runs with, every rolling-origin
run, the scores, and the backtest.json document. Shared by `prewarm backtest` (which adds a
progress bar) and the operators' API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from autoscaler.backtest.evaluate import check_scorable, default_warmup_s, report, score
from autoscaler.backtest.rolling import (
    Progress,
    RollingRun,
    horizon_steps,
    make_settings,
    rolling_origin,
)
from autoscaler.backtest.series import DemandSeries


def kind_settings(
    kinds: list[str], bucket_s: float, quantile: float
) -> tuple[dict[str, Any], dict[str, str]]:
    """Settings per kind at the series' bucket width, and the kinds that cannot run on it
    (with the reason). ValueError when none can, or a kind is unknown."""
    settings: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for kind in kinds:
        try:
            settings[kind] = make_settings(kind, bucket_s, quantile)
        except ValidationError as exc:
            # pydantic prefixes "Value error, "; an ensemble repeats its members' reasons.
            messages = [err["msg"].removeprefix("Value error, ") for err in exc.errors()]
            reason = "; ".join(dict.fromkeys(messages))
            if 86400 % bucket_s:
                reason += " (a --bucket-s that divides a day, e.g. 300, 480 or 600, avoids it)"
            skipped[kind] = reason
    if not settings:
        raise ValueError(
            "no forecaster can run on this series: "
            + "; ".join(f"{k}: {r}" for k, r in skipped.items())
        )
    return settings, skipped


def backtest_document(
    series: DemandSeries,
    horizon_s: float,
    kinds: list[str],
    quantile: float,
    *,
    warmup_s: float | None = None,
    stride: int = 1,
    progress_for: Callable[[str], Progress | None] = lambda kind: None,
) -> tuple[dict[str, Any], dict[str, RollingRun]]:
    """Every kind from every `stride`-th origin, scored: the backtest.json document and the
    runs behind it (for plots)."""
    steps = horizon_steps(horizon_s, series.bucket_s)
    warmup = default_warmup_s(series) if warmup_s is None else warmup_s
    settings, skipped = kind_settings(kinds, series.bucket_s, quantile)
    check_scorable(series, steps, stride, warmup)
    runs, scores = {}, {}
    for kind, kind_setting in settings.items():
        started = time.perf_counter()
        runs[kind] = rolling_origin(
            series,
            kind_setting,
            steps,
            horizon_s=horizon_s,
            stride=stride,
            on_progress=progress_for(kind),
        )
        scores[kind] = score(runs[kind], series, warmup, time.perf_counter() - started)
    doc = report(series, horizon_s, steps, stride, warmup, scores, runs)
    if skipped:
        doc["skipped"] = skipped
    return doc, runs
