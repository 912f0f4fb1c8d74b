"""One PNG, one panel per forecaster: actual vs. forecast mean at the horizon and the plan's
peak.

Each point is placed at the bucket at the horizon (origin + horizon), so a forecaster that
only follows demand shows as a curve shifted right of the actual. The plan's peak
(`RollingRun.peak`, what the planner provisions for) is drawn at the same place; origins
where the plan would have been short (actual peak over the horizon above the plan's peak)
are marked in red at their actual peak. Long series are reduced to MAX_POINTS per curve
(max for actual and the plan's peak, mean for the mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

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
        target = run.origins + run.horizon_steps - 1
        target_h = hours[target]
        run_size = max(1, int(np.ceil(target.size / MAX_POINTS)))
        ax.plot(
            downsample(hours, size, "mean"),
            downsample(np.nan_to_num(series.values), size, "max"),
            color="0.45", lw=0.8, label="actual",
        )  # fmt: skip
        ax.plot(
            downsample(target_h, run_size, "mean"),
            downsample(run.mean[:, run.horizon_steps - 1], run_size, "mean"),
            color="tab:blue", lw=0.9, label="forecast mean",
        )  # fmt: skip
        ax.plot(
            downsample(target_h, run_size, "mean"),
            downsample(run.peak, run_size, "max"),
            color="tab:orange", lw=0.9, alpha=0.8,
            label=f"plan's peak q{run.settings.quantile:g}",
        )  # fmt: skip
        needed = run.actual_peaks(series)
        short = np.flatnonzero(needed > run.peak)  # NaN (all gaps) compares False
        ax.scatter(target_h[short], needed[short], s=4, color="tab:red", label="under-provisioned")
        ax.set_title(kind, loc="left", fontsize=10)
        ax.set_ylabel(series.unit)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8, ncols=4)
    axes[-1, 0].set_xlabel(f"hours since series start (forecast placed {horizon_s:g} s ahead)")
    fig.suptitle(
        f"{series.name}: forecast at the horizon and the plan's peak vs actual", fontsize=11
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
