"""Refit cost of the slow-cadence forecasters, and the O(1) cost of a step between refits.

1,000 models x 7 days of one-minute history (daily cycle with day-to-day level drift and
noise, seeded) are refitted through RefitPool on `--workers` processes. A model has two
series (prompt and generation tokens/s, each with its own forecaster, as the engine runs
them), so 1,000 models are 2,000 fits (`--series-per-model`). Then, for one model per kind,
the cost of absorbing one new bucket is timed at several history lengths to show it does
not grow with the history. Prints figures; no pass/fail.

    .venv/bin/python benchmarks/forecast_refit.py       # holt-winters, kalman, mstl, sarimax
    .venv/bin/python benchmarks/forecast_refit.py --kinds sarimax --models 200 --executor thread
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from autoscaler.forecast.coarse_model import CoarseModelForecaster
from autoscaler.forecast.refit_pool import RefitPool
from autoscaler.forecast.registry import FORECASTERS, build_forecaster

BUCKET_S = 60.0
DAY = 1440


def synthetic(rng: np.random.Generator, days: int) -> np.ndarray:
    """Daily sine, random amplitude and level, AR(1) drift and 3 % white noise (tok/s)."""
    n = days * DAY
    t_s = (np.arange(n) + 0.5) * BUCKET_S
    level = rng.uniform(200, 5000)
    shape = 1 + rng.uniform(0.2, 0.6) * np.sin(2 * np.pi * t_s / 86400 + rng.uniform(0, 6.3))
    drift = np.cumsum(rng.normal(0, 0.002, n))
    drift -= np.convolve(drift, np.ones(DAY) / DAY, mode="same")  # keep it wandering, not leaving
    return level * shape * (1 + drift) * (1 + rng.normal(0, 0.03, n))


def settings_for(kind: str) -> Any:
    settings_cls, _ = FORECASTERS[kind]
    return settings_cls(bucket_s=BUCKET_S, history_s=7 * 86400)


def refit_all(kind: str, series: list[np.ndarray], workers: int, executor: str) -> None:
    forecasters = [build_forecaster(settings_for(kind)) for _ in series]
    end_s = series[0].size * BUCKET_S
    with RefitPool(workers, executor) as pool:  # type: ignore[arg-type]
        pool.refit([(forecasters[0], series[0], end_s)])  # start workers outside the timing
        report = pool.refit(zip(forecasters, series, [end_s] * len(series), strict=True))
    per_fit_ms = report.wall_s / len(series) * workers * 1e3
    print(
        f"{kind:>12} refit  {len(series):>5} series  wall {report.wall_s:7.2f} s"
        f"  ~{per_fit_ms:6.1f} ms/fit/worker  fitted {report.fitted}"
        f" skipped {report.skipped} failed {report.failed}"
    )


def step_cost(kind: str, full: np.ndarray) -> None:
    """Median cost of one predict() that absorbs one new coarse bucket, by history length."""
    cells = []
    for days in (2, 4, 7):  # two days at least, so every kind runs seasonal
        n = days * DAY
        forecaster: Any = build_forecaster(settings_for(kind))
        offset = full.size - n - 600
        forecaster.install(forecaster.fit_on(full[offset : offset + n], (offset + n) * BUCKET_S))
        # holt-winters keeps its own recursion (not a CoarseModelForecaster): predict only.
        coarse = isinstance(forecaster, CoarseModelForecaster)
        advance_us = _time_advances(forecaster) if coarse else []
        predict_us: list[float] = []
        for k in range(1, 600):
            end = offset + n + k
            t0 = time.perf_counter()
            forecaster.predict(full[end - n : end], end * BUCKET_S, 6)
            predict_us.append((time.perf_counter() - t0) * 1e6)
        call = np.median(predict_us)
        update = f"{np.median(advance_us):6.1f} us" if advance_us else "   n/a   "
        cells.append(f"{days} d: update {update}, predict {call:6.1f} us")
    print(f"{kind:>12} step   " + " | ".join(cells))


def _time_advances(forecaster: CoarseModelForecaster[Any]) -> list[float]:
    """Wraps the forecaster's O(1) state update so each call's duration is recorded."""
    spent: list[float] = []
    real_advance = forecaster.advance

    def timed(state: Any, values: np.ndarray, indices: np.ndarray) -> None:
        t0 = time.perf_counter()
        real_advance(state, values, indices)
        spent.append((time.perf_counter() - t0) * 1e6)

    setattr(forecaster, "advance", timed)  # noqa: B010  (an instance attribute, on purpose)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default="holt-winters,kalman,mstl,sarimax")
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--series-per-model", type=int, default=2, help="prompt + generation")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--executor", choices=["process", "thread"], default="process")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    series = [synthetic(rng, args.days) for _ in range(args.models * args.series_per_model)]
    print(
        f"{args.models} models x {args.series_per_model} series x {args.days} d of 1-min"
        f" buckets generated in {time.perf_counter() - t0:.1f} s;"
        f" {args.workers} {args.executor} workers"
    )
    long = synthetic(np.random.default_rng(args.seed + 1), 8)
    for kind in args.kinds.split(","):
        refit_all(kind, series, args.workers, args.executor)
        step_cost(kind, long)


if __name__ == "__main__":
    main()
