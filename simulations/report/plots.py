"""PNG plots: demand vs. capacity over time per policy, and TTFT distributions.

Traces run up to a week at 1 s ticks (600 k points) and 17 M requests; both plots reduce
their data to a few thousand points first, which draws the same picture in a fraction of
the time and keeps the PNGs small.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window (also on machines without a display)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.ticker import MultipleLocator  # noqa: E402

from simulations.run_result import PolicyRun  # noqa: E402

MAX_POINTS = 2000  # per series; a 1,100 px wide plot cannot show more
DEMAND_SMOOTHING_S = 60.0  # per-second demand is mostly Poisson noise no fleet should follow
DPI = 110

DEMAND: dict[str, Any] = {"color": "0.55", "alpha": 0.35}
SHORTFALL: dict[str, Any] = {"color": "tab:red", "alpha": 0.35}
REQUESTED: dict[str, Any] = {"color": "tab:orange", "lw": 2.0, "alpha": 0.45}
READY: dict[str, Any] = {"color": "tab:blue", "lw": 1.0}


def downsample(values: np.ndarray, size: int, how: str) -> np.ndarray:
    """Reduces consecutive bins of `size` points to one, by "max" (keeps demand peaks
    visible) or "mean" (replica counts, time). The last bin may be shorter."""
    values = np.asarray(values, dtype=np.float64)
    if size <= 1 or values.size == 0:
        return values
    starts = np.arange(0, values.size, size)
    if how == "max":
        return np.maximum.reduceat(values, starts)
    counts = np.diff(np.append(starts, values.size))
    return np.add.reduceat(values, starts) / counts


def centred_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over `window` points, shorter at the ends rather than zero-padded
    (np.convolve's "same" mode would pull the first and last half-window towards 0)."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or values.size == 0:
        return values
    cum = np.concatenate(([0.0], np.cumsum(values)))
    idx = np.arange(values.size)
    lo = np.maximum(idx - window // 2, 0)
    hi = np.minimum(idx - window // 2 + window, values.size)
    return (cum[hi] - cum[lo]) / (hi - lo)


def hour_step(span_h: float) -> float | None:
    """Tick spacing in hours for traces of half a day or more (whole days once they span
    several, so daily cycles line up with the grid; at most about a dozen ticks). None for
    shorter ones, where matplotlib's own 0.1 h steps read fine."""
    if span_h < 12:
        return None
    for step in (2, 3, 6, 12, 24, 48):
        if span_h / step <= 12:
            return float(step)
    return 24.0 * float(np.ceil(span_h / 24 / 12))


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_yticks([])


def _capacity_panel(ax: Axes, run: PolicyRun) -> None:
    ax.set_title(run.policy, loc="left", fontsize=10)
    if run.t_s.size == 0:
        _empty(ax, "no ticks")
        return
    size = int(np.ceil(run.t_s.size / MAX_POINTS))
    hours = downsample(run.t_s, size, "mean") / 3600
    smoothing = max(1, round(DEMAND_SMOOTHING_S / run.tick_s))
    demand = downsample(centred_mean(run.demand_replicas, smoothing), size, "max")
    ready = downsample(run.ready_replicas, size, "mean")
    requested = downsample(run.requested_replicas, size, "mean")

    ax.fill_between(
        hours,
        demand,
        step="mid",
        lw=0,
        label="demand (replicas at SLO capacity, 1-min mean)",
        **DEMAND,
    )
    # Red where demand exceeds serving capacity: where the SLO is at risk.
    ax.fill_between(
        hours,
        ready,
        demand,
        where=demand > ready,
        step="mid",
        lw=0,
        label="demand above ready",
        **SHORTFALL,
    )
    # Requested sits under ready, wider and paler: only its excess (replicas starting,
    # paid but not yet serving) shows.
    ax.step(hours, requested, where="mid", label="requested (paid)", **REQUESTED)
    ax.step(hours, ready, where="mid", label="ready", **READY)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("replicas")
    ax.grid(alpha=0.3)


def plot_capacity(runs: Sequence[PolicyRun], path: Path) -> Path:
    """One panel per policy, stacked and sharing the x-axis (hours since scoring started,
    i.e. after any warm-up: runs hold only the replayed part):
    demand in replicas at SLO capacity vs. ready and requested replicas."""
    path = Path(path)
    rows = max(len(runs), 1)
    fig, axes = plt.subplots(
        rows, 1, figsize=(11, 1.2 + 2.1 * rows), sharex=True, squeeze=False, layout="constrained"
    )
    try:  # a failure half-way must not leak the figure: pyplot keeps it otherwise
        for ax, run in zip(axes[:, 0], runs, strict=False):
            _capacity_panel(ax, run)
        if not runs:
            _empty(axes[0, 0], "no policy runs")
        end_h = max((float(run.t_s[-1]) for run in runs if run.t_s.size), default=0.0) / 3600
        if end_h > 0:
            axes[0, 0].set_xlim(0, end_h)
            step = hour_step(end_h)
            if step is not None:
                axes[0, 0].xaxis.set_major_locator(MultipleLocator(step))
        axes[-1, 0].set_xlabel("hours since the warm-up ended (scored replay)")
        handles, labels = next(
            (
                ax.get_legend_handles_labels()
                for ax in axes[:, 0]
                if ax.get_legend_handles_labels()[0]
            ),
            ([], []),
        )
        if handles:
            fig.legend(handles, labels, loc="outside upper right", ncol=len(handles), fontsize=8)
        fig.suptitle("Demand vs. capacity", x=0.01, ha="left")
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    return path


def _cdf_points(run: PolicyRun) -> tuple[np.ndarray, np.ndarray]:
    """(TTFT, share of ALL requests served within it) at a few thousand quantiles, dense in
    the tail where SLOs live. Dropped requests are never served, so the curve tops out at
    the served share and its value at the SLO is the SLO attainment."""
    served = np.sort(run.ttft_s[~run.dropped].astype(np.float64))
    if served.size == 0:
        return served, served
    m = served.size
    body = np.linspace(0.0, 1.0, MAX_POINTS)
    tail = 1.0 - np.logspace(np.log10(1.0 / m), 0.0, MAX_POINTS)
    idx = np.unique(np.round(np.concatenate((body, tail)) * (m - 1)).astype(np.int64))
    return served[idx], (idx + 1) / run.ttft_s.size


def plot_ttft(runs: Sequence[PolicyRun], path: Path) -> Path:
    """TTFT distribution per policy on a log x-axis, with the SLO as a vertical line.

    Left: the CDF (share of requests served within x). Right: the same curve as the share
    NOT served within x on a log scale, so 99 % vs. 99.9 % at the SLO is visible.
    """
    path = Path(path)
    fig, (cdf_ax, tail_ax) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    try:
        floor = 1.0
        drew_tail = False
        for run in runs:
            ttft, share = _cdf_points(run)
            if ttft.size == 0:
                continue
            # Log axes cannot show 0 s; a millisecond is far below any real TTFT.
            x = np.maximum(ttft, 1e-3)
            (line,) = cdf_ax.plot(x, share, lw=1.4, label=run.policy)
            # Where everything is served the tail is 0: not drawable on a log axis, so masked.
            tail = 1.0 - share
            tail_ax.plot(x, np.where(tail > 0, tail, np.nan), lw=1.4, color=line.get_color())
            floor = min(floor, 0.5 / run.ttft_s.size)
            drew_tail = drew_tail or bool((tail > 0).any())
        drew_cdf = bool(cdf_ax.lines)
        for slo in sorted({run.slo_ttft_s for run in runs if run.slo_ttft_s > 0}):
            for ax in (cdf_ax, tail_ax):
                ax.axvline(slo, color="black", ls="--", lw=1, label=f"SLO {slo:g} s")
        if not drew_cdf:
            _empty(cdf_ax, "no requests")
            _empty(tail_ax, "no requests")
        for ax in (cdf_ax, tail_ax):
            ax.set_xscale("log")
            ax.set_xlabel("time to first token (s)")
            ax.grid(alpha=0.3, which="both")
        cdf_ax.set_ylim(0, 1.01)
        cdf_ax.set_ylabel("share of requests served within x")
        cdf_ax.set_title("CDF (dropped requests never count as served)", fontsize=10)
        if cdf_ax.get_legend_handles_labels()[0]:
            cdf_ax.legend(fontsize=8, loc="upper left")
        if drew_tail:
            tail_ax.set_yscale("log")
            tail_ax.set_ylim(bottom=max(floor, 1e-7), top=1.05)
        tail_ax.set_ylabel("share of requests NOT served within x")
        tail_ax.set_title("Tail (at the SLO line: share missing the SLO)", fontsize=10)
        fig.suptitle("Time to first token", x=0.01, ha="left")
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    return path
