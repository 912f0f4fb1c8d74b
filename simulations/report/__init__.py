"""Turning policy runs into summary.json, a terminal table, PNG plots and report.md."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulations.report.markdown import write_markdown_report
from simulations.report.plots import plot_capacity, plot_ttft
from simulations.report.summary import (
    build_summary,
    policy_summary,
    slo_violations,
    write_summary_json,
)
from simulations.report.table import comparison_table
from simulations.run_result import PolicyRun

__all__ = [
    "build_summary",
    "comparison_table",
    "plot_capacity",
    "plot_ttft",
    "policy_summary",
    "slo_violations",
    "write_markdown_report",
    "write_report",
    "write_summary_json",
]


def write_report(
    out_dir: Path, summary: dict[str, Any], runs: Sequence[PolicyRun]
) -> dict[str, Path]:
    """Writes summary.json, capacity.png, ttft.png and report.md into `out_dir` (created if
    missing) and returns their paths under the keys summary, capacity, ttft and report."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary": write_summary_json(out_dir / "summary.json", summary),
        "capacity": plot_capacity(runs, out_dir / "capacity.png"),
        "ttft": plot_ttft(runs, out_dir / "ttft.png"),
    }
    # Every run of one simulation shares the profile's SLO; the first one speaks for all.
    slo = runs[0].slo_ttft_s if runs else None
    paths["report"] = write_markdown_report(out_dir, summary, paths, slo)
    return paths
