"""report.md: the comparison as a person reads it, with the plots beside it.

The table prints summary.json's numbers as they are (six significant digits), so a number
quoted from the report can be found in the JSON.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulations.report.table import duration_text, oracle_ratio, warmup_text


def _percent(fraction: float) -> str:
    """0.993591 -> "99.3591 %": a decimal shift, never rounding 99.99997 up to 100."""
    return format(Decimal(repr(fraction)).scaleb(2).normalize(), "f") + " %"


def _number(value: float) -> str:
    return f"{value:,g}"  # already rounded to six significant digits in the summary


def _count(value: int) -> str:
    return f"{value:,}"


COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("SLO met", "slo_attainment", _percent),
    ("TTFT p50 (s)", "ttft_p50_s", _number),
    ("TTFT p95 (s)", "ttft_p95_s", _number),
    ("TTFT p99 (s)", "ttft_p99_s", _number),
    ("GPU-hours", "gpu_hours", _number),
    ("mean replicas", "mean_replicas", _number),
    ("peak replicas", "peak_replicas", _count),
    ("replica changes", "replica_changes", _count),
    ("dropped", "dropped_requests", _count),
)
ORACLE_COLUMN = "GPU-h vs oracle"

# Known plots, in report order: (key in plot_paths, section title, one line on reading it).
PLOTS = (
    (
        "capacity",
        "Demand vs. capacity",
        "Grey: offered work in replicas running at the SLO's capacity (1-minute mean, peak per "
        "plotted point). Blue: ready replicas; pale orange: requested (paid) replicas, visible "
        "above blue while replicas start. Red: demand above ready capacity.",
    ),
    (
        "ttft",
        "Time to first token",
        "Left: share of all requests served within a TTFT (dropped requests never are). "
        "Right: the share not served within it, on a log scale; where it crosses the dashed SLO "
        "line is the share of requests missing the SLO.",
    ),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe would split the table cell


def _trace_lines(summary: dict[str, Any], slo_ttft_s: float | None) -> list[str]:
    trace = summary["trace"]
    slo = f" TTFT SLO **{slo_ttft_s:g} s**." if slo_ttft_s else ""
    lines = [
        f"Trace **{trace.get('name', '?')}** ({trace.get('source', '?')}): "
        f"{summary['requests']:,} requests over {duration_text(summary['duration_s'])}"
        f"{warmup_text(summary)}.{slo}",
        "",
    ]
    if summary.get("warmup_s"):
        lines += [
            "The warm-up was back-filled into the predictive engine's history, as production "
            "back-fills from Prometheus, and is neither replayed nor scored for any policy.",
            "",
        ]
    lines += [f"- {key}: `{value}`" for key, value in trace.items()]
    return [*lines, ""]


def _table_lines(summary: dict[str, Any]) -> list[str]:
    policies: dict[str, dict[str, Any]] = summary["policies"]
    oracle = policies.get("oracle")
    titles = [title for title, _, _ in COLUMNS]
    if oracle is not None:
        titles.insert(titles.index("GPU-hours") + 1, ORACLE_COLUMN)
    lines = ["| policy | " + " | ".join(titles) + " |", "|---|" + "---:|" * len(titles)]
    for name, numbers in policies.items():
        cells = [fmt(numbers[key]) for _, key, fmt in COLUMNS]
        if oracle is not None:
            cells.insert(titles.index(ORACLE_COLUMN), oracle_ratio(numbers, oracle))
        lines.append(f"| {_cell(name)} | " + " | ".join(cells) + " |")
    if not policies:
        lines.append("| (no policies) |" + " |" * len(titles))
    return [*lines, ""]


PLACEMENT_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("unplaced replica-seconds", "unplaced_replica_seconds", _number),
    ("peak unplaced", "peak_unplaced_replicas", _count),
    ("never started", "replicas_never_started", _count),
    ("nodes provisioned", "nodes_provisioned", _count),
    ("waited for a node", "replicas_waited_for_nodes", _count),
)


def _placement_lines(summary: dict[str, Any]) -> list[str]:
    """With --inventory: where replicas went, per policy; [] otherwise."""
    policies: dict[str, dict[str, Any]] = summary["policies"]
    rows = {n: v for n, v in policies.items() if "unplaced_replica_seconds" in v}
    if not rows:
        return []
    placement = summary.get("placement", {})
    need = placement.get("need", {})
    need_text = ", ".join(f"{k}: {v}" for k, v in need.items()) if need else "?"
    lines = [
        "## Placement",
        "",
        f"Every replica was placed on `{placement.get('inventory', '?')}` "
        f"(a replica needs `{need_text}`; a new node takes "
        f"{placement.get('node_provision_s', '?')} s before the cold start). A replica with no "
        "node never serves and costs nothing; the policies saw only the replicas serving.",
        "",
        "| policy | " + " | ".join(t for t, _, _ in PLACEMENT_COLUMNS) + " |",
        "|---|" + "---:|" * len(PLACEMENT_COLUMNS),
    ]
    for name, numbers in rows.items():
        cells = [fmt(numbers[key]) for _, key, fmt in PLACEMENT_COLUMNS]
        lines.append(f"| {_cell(name)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _how_to_read(has_oracle: bool) -> list[str]:
    lines = [
        "## How to read this",
        "",
        "- **SLO met**: share of *all* requests served with a TTFT within the SLO; dropped "
        "requests count as misses.",
        "- **TTFT p50/p95/p99**: time-to-first-token percentiles over requests that were served "
        "(dropped ones excluded).",
        "- **GPU-hours**: GPUs of every replica from the moment it was requested (cold start "
        "included) until it was released.",
        "- **mean / peak replicas**: time average and maximum of requested replicas, i.e. of "
        "the replicas paid for, not only those serving.",
        "- **replica changes**: scaling decisions that changed the replica count (up or down, "
        "however many replicas at once).",
        "- **dropped**: clients that gave up before their first token (request timeout).",
    ]
    if has_oracle:
        lines += [
            f"- **{ORACLE_COLUMN}**: GPU-hours divided by the oracle's. The oracle knows future "
            "demand and has the same cold start: the lower bound on GPU-hours at the target "
            "utilisation.",
        ]
    return [*lines, ""]


def _link(path: Path, out_dir: Path) -> str:
    """Relative to report.md, with forward slashes, so the report can be moved as a folder."""
    return Path(os.path.relpath(Path(path).resolve(), out_dir.resolve())).as_posix()


def _plot_lines(out_dir: Path, plot_paths: dict[str, Path]) -> list[str]:
    lines: list[str] = []
    known = {key for key, _, _ in PLOTS}
    sections = [(k, t, d) for k, t, d in PLOTS if k in plot_paths]
    sections += [
        (k, k, "") for k, p in plot_paths.items() if k not in known and Path(p).suffix == ".png"
    ]
    for key, title, description in sections:
        lines += [f"## {title}", "", f"![{title}]({_link(plot_paths[key], out_dir)})", ""]
        if description:
            lines += [description, ""]
    return lines


def write_markdown_report(
    out_dir: Path, summary: dict[str, Any], plot_paths: dict[str, Path], slo_ttft_s: float | None
) -> Path:
    """Writes out_dir/report.md (title, trace, policy table, column definitions, plots) and
    returns its path. Plots are linked relative to out_dir; non-PNG entries of `plot_paths`
    (such as "summary") are linked as files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Prewarm simulation report", "", *_trace_lines(summary, slo_ttft_s)]
    lines += ["## Policies", "", *_table_lines(summary), *_placement_lines(summary)]
    others = [(k, p) for k, p in plot_paths.items() if Path(p).suffix != ".png"]
    if others:
        links = ", ".join(f"[{Path(p).name}]({_link(p, out_dir)})" for _, p in others)
        lines += [f"Full numbers: {links}.", ""]
    lines += _how_to_read("oracle" in summary["policies"])
    lines += _plot_lines(out_dir, plot_paths)
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
