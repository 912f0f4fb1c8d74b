"""One PNG, one panel per forecaster: actual vs. forecast mean and upper at the horizon.

Each point is placed at the bucket it forecast (origin + horizon), so a forecaster that only
follows demand shows as a curve shifted right of the actual. Origins where the plan would
have been short (actual peak above the upper peak) are marked in red. Long series are
reduced to MAX_POINTS per curve (max for actual and upper, mean for the mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from autoscaler.backtest import metrics  # noqa: E402
from autoscaler.backtest.rolling import RollingRun  # noqa: E402
from autoscaler.backtest.series import DemandSeries  # noqa: E402
from simulations.report.plots import downsample  # noqa: E402

MAX_POINTS = 2000
DPI = 100


def plot_forecasts(
    series: DemandSeries, runs: Mapping[str, RollingRun], horizon_s: float, path: Path
) -> Path:
    """Writes the multi-panel PNG to `path` and returns it."""
    kinds = list(runs)
    fig, axes = plt.subplots(
        len(kinds), 1, figsize=(12, 2.6 * len(kinds) + 0.6), sharex=True, squeeze=False
    )
    hours = (series.bucket_starts_s - series.start_s) / 3600
    size = max(1, int(np.ceil(series.n_buckets / MAX_POINTS)))
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        run = runs[kind]
        target = run.origins + run.steps - 1
        target_h = hours[target]
        run_size = max(1, int(np.ceil(target.size / MAX_POINTS)))
        ax.plot(
            downsample(hours, size, "mean"),
            downsample(np.nan_to_num(series.values), size, "max"),
            color="0.45", lw=0.8, label="actual",
        )  # fmt: skip
        ax.plot(
            downsample(target_h, run_size, "mean"),
            downsample(run.mean[:, -1], run_size, "mean"),
            color="tab:blue", lw=0.9, label="forecast mean",
        )  # fmt: skip
        ax.plot(
            downsample(target_h, run_size, "mean"),
            downsample(run.upper[:, -1], run_size, "max"),
            color="tab:orange", lw=0.9, alpha=0.8, label=f"upper q{run.settings.quantile:g}",
        )  # fmt: skip
        peaks = np.full((run.origins.size, 2), np.nan)
        windows = run.actual_windows(series)
        valid = np.isfinite(windows).any(axis=1)
        peaks[valid] = metrics.horizon_peaks(windows, run.upper)
        short = np.flatnonzero(peaks[:, 0] > peaks[:, 1])
        ax.scatter(
            target_h[short], peaks[short, 0], s=4, color="tab:red", label="under-provisioned"
        )
        ax.set_title(kind, loc="left", fontsize=10)
        ax.set_ylabel(series.unit)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8, ncols=4)
    axes[-1, 0].set_xlabel(f"hours since series start (forecast placed {horizon_s:g} s ahead)")
    fig.suptitle(f"{series.name}: forecast vs actual at the horizon", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
