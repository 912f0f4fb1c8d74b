"""sweep.json and the terminal tables of `prewarm sweep`.

sweep.json (every value a plain JSON type):

    {"version": 1, "seed": n, "code": fingerprint, "policies": [...],
     "grid": {"<path>": [values]}, "ignored": {"<family>": ["<path>", ...]},
     "replays": {"points": n, "distinct": n, "cached": n, "replayed": n},
     "traces": [{"label", "trace", "format", "warmup_s", "oracle_gpu_hours",
                 "predictive_slo_attainment",
                 "needed_for_predictive_slo": {"<family>": {"gpu_hours", "vs_predictive",
                                                            "how", "best_slo_attainment"}}}],
     "points": [{"trace", "family", "overrides": {...}, "at_profile", "on_frontier",
                 "requests", "slo_attainment", "slo_attainment_pct", "ttft_p50_s",
                 "ttft_p95_s", "ttft_p99_s", "gpu_hours", "gpu_hours_vs_oracle",
                 "mean_replicas", "peak_replicas", "replica_changes",
                 "dropped_requests", "key"}]}

`gpu_hours_vs_oracle` is null without an oracle point; `needed_for_predictive_slo.gpu_hours`
is null when the family never reaches predictive's attainment, and `how` is "interpolated",
"at most" or "never" (`frontier.Needed`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from simulations.report.table import gpu_hours_text, percent_text, seconds_text
from simulations.sweep.results import REFERENCE_FAMILY, SweepRow, TraceResults
from simulations.sweep.run import SweepOutcome

SWEEP_JSON_VERSION = 1


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else float(f"{value:.{digits}g}")


def point_json(results: TraceResults, row: SweepRow) -> dict[str, Any]:
    metrics = row.result.metrics
    return {
        "trace": row.point.trace,
        "family": row.point.family,
        "overrides": dict(row.point.overrides),
        "at_profile": row.point.at_profile,
        "on_frontier": results.on_front(row),
        "requests": row.result.requests,
        **{k: metrics[k] for k in ("slo_attainment",)},
        "slo_attainment_pct": _round(metrics["slo_attainment"] * 100),
        **{k: metrics[k] for k in ("ttft_p50_s", "ttft_p95_s", "ttft_p99_s", "gpu_hours")},
        "gpu_hours_vs_oracle": _round(results.vs_oracle(row), 4),
        **{
            k: metrics[k]
            for k in ("mean_replicas", "peak_replicas", "replica_changes", "dropped_requests")
        },
        "key": row.point.key,
    }


def sweep_json(outcome: SweepOutcome, per_trace: Sequence[TraceResults]) -> dict[str, Any]:
    plan = outcome.plan
    traces = []
    points: list[dict[str, Any]] = []
    for results in per_trace:
        reference = results.reference
        needed = {}
        for family, need in results.needed.items():
            ratio = None
            if need.gpu_hours is not None and reference is not None and reference.gpu_hours:
                ratio = _round(need.gpu_hours / reference.gpu_hours, 4)
            needed[family] = {
                "gpu_hours": _round(need.gpu_hours),
                "vs_predictive": ratio,
                "how": need.how,
                "best_slo_attainment": need.best_slo,
            }
        traces.append(
            {
                "label": results.trace.label,
                "trace": results.trace.info,
                "format": None if results.trace.ref.path is None else results.trace.ref.fmt,
                "warmup_s": results.trace.warmup_s,
                "oracle_gpu_hours": results.oracle.gpu_hours if results.oracle else None,
                "predictive_slo_attainment": reference.slo_attainment if reference else None,
                "needed_for_predictive_slo": needed,
            }
        )
        for family in plan.families:
            points.extend(point_json(results, row) for row in results.rows[family])
    return {
        "version": SWEEP_JSON_VERSION,
        "seed": plan.seed,
        "code": plan.code,
        "policies": list(plan.families),
        "grid": {axis.path: list(axis.values) for axis in plan.grid.axes},
        "ignored": plan.ignored,
        "replays": {
            "points": plan.requested,
            "distinct": len(plan.tasks),
            "cached": outcome.cached,
            "replayed": outcome.replayed,
        },
        "traces": traces,
        "points": points,
    }


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Writes atomically (temporary file, then rename): a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


def _header(path: str, width: int = 11) -> str:
    """A swept path as a narrow column header, broken after `.` and `_`:
    `scaling.scale_down_delay_s` -> "scaling.\nscale_down_\ndelay_s"."""
    pieces, piece = [], ""
    for char in path:
        piece += char
        if char in "._":
            pieces.append(piece)
            piece = ""
    pieces.append(piece)
    lines = [""]
    for piece in pieces:
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines.append("")
        lines[-1] += piece
    return "\n".join(line for line in lines if line)


def frontier_table(results: TraceResults, family: str, paths: Sequence[str] = ()) -> Table:
    """The family's frontier on one trace (one column per swept path in `paths` it reads),
    plus its point at the profile as given when that is off the frontier; the oracle's
    reference point is marked."""
    rows = results.rows[family]
    front = results.fronts[family]
    shown = list(front)
    reference = next((row for row in rows if row.point.at_profile), None)
    if reference is not None and reference not in shown:
        shown.append(reference)
    read = [path for path in paths if any(p == path for p, _ in _all_overrides(rows))]
    table = Table(
        title=f"{family} on {results.trace.label}: {len(rows)} point"
        f"{'s' if len(rows) != 1 else ''}, {len(front)} on the frontier",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1),
        title_justify="left",
    )
    for path in read:
        header = _header(path)
        table.add_column(header, justify="right", min_width=max(map(len, header.split())))
    for header in ("SLO %", "TTFT\np99 s", "GPU-h", "vs\noracle", "peak\nrepl."):
        table.add_column(header, justify="right")
    table.add_column("", justify="left")
    for row in shown:
        metrics = row.result.metrics
        ratio = results.vs_oracle(row)
        notes = []
        if row.point.at_profile:
            notes.append("profile")
        if row is results.oracle:
            notes.append("oracle ref.")
        if row not in front:
            notes.append("off frontier")
        values = dict(row.point.overrides)
        table.add_row(
            *(
                f"{values[path]:g}"
                if isinstance(values.get(path), float)
                else str(values.get(path, "-"))
                for path in read
            ),
            percent_text(metrics["slo_attainment"]),
            seconds_text(metrics["ttft_p99_s"]),
            gpu_hours_text(metrics["gpu_hours"]),
            "-" if ratio is None else f"{ratio:.2f}x",
            f"{metrics['peak_replicas']:,}",
            ", ".join(notes),
        )
    return table


def _all_overrides(rows: Sequence[SweepRow]) -> list[tuple[str, object]]:
    return [pair for row in rows for pair in row.point.overrides]


def needed_table(results: TraceResults) -> Table | None:
    """What each family needs, along its frontier, to reach predictive's attainment."""
    reference = results.reference
    if reference is None or not results.needed:
        return None
    table = Table(
        title=f"On {results.trace.label}, GPU-hours to reach predictive's "
        f"{percent_text(reference.slo_attainment)} % SLO attainment "
        f"({gpu_hours_text(reference.gpu_hours)} GPU-h at the profile)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1),
        title_justify="left",
    )
    table.add_column("family")
    table.add_column("needs (interpolated on its frontier)", justify="right")
    table.add_row(REFERENCE_FAMILY, f"{reference.gpu_hours:,.1f} GPU-h (1.00x)")
    for family, need in results.needed.items():
        table.add_row(family, need.text(reference.gpu_hours))
    return table
