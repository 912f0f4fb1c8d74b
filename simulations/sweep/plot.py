"""frontier.png: SLO violations against GPU-hours, one curve per family, one panel per trace.

Violations (100 % - attainment) on a log scale: 99 % and 99.9 % are a decade apart rather
than a pixel apart, and down-and-left is better. Every point is drawn faintly, the
frontier as a line with each point labelled by its swept values; each family's point at
the profile as given is ringed and the oracle's is a star. A point without a single
violation is drawn at the floor of the axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402

from simulations.report.plots import DPI  # noqa: E402
from simulations.sweep.results import SweepRow, TraceResults  # noqa: E402

COLOURS = {
    "predictive": "tab:blue",
    "reactive-tokens": "tab:orange",
    "dynamo-like": "tab:green",
    "reactive": "tab:red",
    "static": "tab:brown",
    "oracle": "black",
}
MAX_LABELLED = 12  # frontier points per family that get their values written beside them
EXTRA_COLOURS = ("tab:purple", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def _violations_pct(row: SweepRow) -> float:
    return (1.0 - row.slo_attainment) * 100


def plot_frontier(per_trace: Sequence[TraceResults], path: Path) -> Path:
    panels = max(len(per_trace), 1)
    cols = min(panels, 2)
    rows = (panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 5.4 * rows), squeeze=False)
    extra = iter(EXTRA_COLOURS * 4)
    colours = dict(COLOURS)
    for ax, results in zip(axes.flat, per_trace, strict=False):
        positive = [v for rs in results.rows.values() for r in rs if (v := _violations_pct(r)) > 0]
        floor = min(positive) / 3 if positive else 1e-4

        def y(row: SweepRow, floor: float = floor) -> float:
            return max(_violations_pct(row), floor)

        for family, family_rows in results.rows.items():
            colour = colours.setdefault(family, next(extra))
            ax.scatter(
                [r.gpu_hours for r in family_rows],
                [y(r) for r in family_rows],
                s=14,
                color=colour,
                alpha=0.3,
                linewidths=0,
            )
            front = results.fronts[family]
            ax.plot(
                [r.gpu_hours for r in front],
                [y(r) for r in front],
                "-o",
                ms=4,
                lw=1.6,
                color=colour,
                label=f"{family} ({len(front)}/{len(family_rows)} on frontier)",
            )
            # Which values made each frontier point ("0.7/0.95"); past a dozen they overlap.
            for row in front if len(front) <= MAX_LABELLED else []:
                text = "/".join(
                    f"{value:g}" if isinstance(value, float) else str(value)
                    for _, value in row.point.overrides
                )
                ax.annotate(
                    text,
                    (row.gpu_hours, y(row)),
                    xytext=(3, 3),
                    textcoords="offset points",
                    fontsize=6,
                    color=colour,
                )
            for row in family_rows:
                if row.point.at_profile and row is not results.oracle:
                    ax.scatter(
                        [row.gpu_hours], [y(row)], s=90, facecolors="none", edgecolors=colour
                    )
        if results.oracle is not None:
            ax.scatter(
                [results.oracle.gpu_hours],
                [y(results.oracle)],
                marker="*",
                s=220,
                color="gold",
                edgecolors="black",
                zorder=5,
                label="oracle at the profile",
            )
        ax.set_yscale("log")
        ax.set_title(f"{results.trace.label}", loc="left", fontsize=10)
        ax.set_xlabel("GPU-hours")
        ax.set_ylabel("SLO violations, % of requests (log)")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(
            fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False
        )
    for ax in list(axes.flat)[len(per_trace) :]:
        ax.set_visible(False)
    fig.suptitle(
        "Cost/SLO frontier: down and left is better; rings: the profile as given;\n"
        "labels: the swept values of a frontier point",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
