"""PNG plots: demand vs. capacity over time per policy, and TTFT distributions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from simulations.run_result import PolicyRun  # noqa: E402

MAX_POINTS = 2000


def _bins(n: int) -> int:
    return max(1, int(np.ceil(n / MAX_POINTS)))


def _reduce(values: np.ndarray, size: int, how: str) -> np.ndarray:
    """Down-samples by `size`: max keeps demand peaks visible, mean suits replica counts."""
    if size == 1 or values.size == 0:
        return values.astype(float)
    pad = (-values.size) % size
    padded = np.pad(values.astype(float), (0, pad), mode="edge").reshape(-1, size)
    return padded.max(axis=1) if how == "max" else padded.mean(axis=1)


def plot_capacity(runs: Sequence[PolicyRun], path: Path) -> Path:
    rows = max(len(runs), 1)
    fig, axes = plt.subplots(rows, 1, figsize=(11, 2.3 * rows + 0.6), sharex=True, squeeze=False)
    for ax, run in zip(axes[:, 0], runs, strict=False):
        size = _bins(run.t_s.size)
        hours = _reduce(run.t_s, size, "mean") / 3600
        # Per-second demand is mostly Poisson noise: show minute means, peak per bin.
        minute = max(1, round(60 / run.tick_s))
        demand = np.convolve(run.demand_replicas, np.ones(minute) / minute, mode="same")
        ax.fill_between(
            hours,
            _reduce(demand, size, "max"),
            step="mid",
            color="tab:gray",
            alpha=0.35,
            label="demand (replicas at SLO capacity)",
        )
        ax.plot(
            hours,
            _reduce(run.requested_replicas, size, "mean"),
            color="tab:orange",
            lw=0.9,
            alpha=0.7,
            label="requested (paid)",
        )
        ax.plot(
            hours,
            _reduce(run.ready_replicas, size, "mean"),
            color="tab:blue",
            lw=1.1,
            label="ready",
        )
        ax.set_ylabel("replicas")
        ax.set_title(run.policy, loc="left", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=3)
    axes[-1, 0].set_xlabel("hours since trace start")
    fig.suptitle("Demand vs. ready capacity")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_ttft(runs: Sequence[PolicyRun], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    slo = runs[0].slo_ttft_s if runs else None
    for run in runs:
        ttft = np.sort(run.ttft_s[~run.dropped])
        if ttft.size == 0:
            continue
        # An empirical CDF of a million points: a few thousand quantiles draw the same curve.
        q = np.linspace(0, 1, min(ttft.size, 4000))
        values = np.quantile(ttft, q)
        share_served = ttft.size / run.ttft_s.size
        ax.plot(np.maximum(values, 1e-3), q * share_served, label=run.policy)
    if slo:
        ax.axvline(slo, color="red", ls="--", lw=1, label=f"SLO {slo:g} s")
    ax.set_xscale("log")
    ax.set_xlabel("time to first token (s)")
    ax.set_ylabel("share of requests served within")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("TTFT distribution (dropped requests never reach the curve's top)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
