"""What tune by replay shows and writes: the frontier, the evidence, tune.json.

The evidence is the ranking that justifies the pick: the trials that meet the SLO by
GPU-hours, then those that do not by how close they came, each against the profile as given
("vs given": GPU-hours over its GPU-hours). The same lines head profile.yaml as comments.

tune.json (every value a plain JSON type):

    {"version": 1, "objective": "replay", "trace": {...}, "seed": n, "replay_seed": n,
     "code": fingerprint, "sampler": "...", "note": null | "why the search stopped short",
     "space": ["<axis>", ...], "batch": n,
     "target": {"ttft_slo_s", "ttft_slo_attainment"},
     "replays": {"trials", "distinct", "replayed", "cached"},
     "reference": {"gpu_hours", "slo_attainment"} | null,
     "pick": {"trial", "meets_slo", "gpu_hours", "slo_attainment", "params", "profile"} | null,
     "frontier": [trial numbers, by GPU-hours],
     "trials": [{"number", "state", "params", "candidate", "gpu_hours", "slo_attainment",
                 "meets_slo", "cached", "repeat_of", "key", "error", "metrics"}]}
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from autoscaler.profile import ModelProfile
from simulations.report.table import gpu_hours_text, percent_text
from simulations.sweep.frontier import pareto_front
from simulations.sweep.plan import SweepTrace
from simulations.tune.replay_search import SearchOutcome, TrialRecord
from simulations.tune.search_space import SearchSpace

TUNE_JSON_VERSION = 1
EVIDENCE_ROWS = 10
COMMENT_WIDTH = 96


def ranked(outcome: SearchOutcome) -> list[TrialRecord]:
    """Distinct trials: meeting the SLO by GPU-hours, then the rest by attainment."""
    done = outcome.distinct
    meets = sorted((t for t in done if t.feasible), key=lambda t: (t.gpu_hours, t.number))
    misses = sorted(
        (t for t in done if not t.feasible), key=lambda t: (-t.slo_attainment, t.gpu_hours)
    )
    return meets + misses


def frontier(outcome: SearchOutcome) -> list[TrialRecord]:
    return pareto_front(outcome.distinct)


def _vs_given(outcome: SearchOutcome, record: TrialRecord) -> str:
    ref = outcome.reference
    gpu = float(ref.metrics["gpu_hours"]) if ref is not None else 0.0
    return f"{record.gpu_hours / gpu:.2f}x" if gpu else "-"


def headline(outcome: SearchOutcome, base: ModelProfile) -> str:
    """One sentence: what was picked and whether it meets the SLO."""
    goal = f"TTFT <= {base.ttft_slo_s:g} s for >= {percent_text(outcome.target)} % of requests"
    pick = outcome.pick
    if pick is None:
        return f"no candidate could be replayed (goal: {goal})"
    numbers = (
        f"trial {pick.number}: {gpu_hours_text(pick.gpu_hours)} GPU-h, "
        f"{percent_text(pick.slo_attainment)} % within the SLO"
    )
    if outcome.best is not None:
        return f"Chosen {numbers} (goal: {goal})"
    return f"NO CANDIDATE MEETS THE SLO ({goal}); the closest, NOT meeting it, is {numbers}"


def evidence_lines(
    outcome: SearchOutcome,
    base: ModelProfile,
    trace: SweepTrace,
    space: SearchSpace,
    rows: int = EVIDENCE_ROWS,
) -> list[str]:
    """The comment block for profile.yaml (plain text lines, no `#`)."""
    info = trace.info
    ref = outcome.reference
    lines = [
        f"Tuned by replay (prewarm tune) on {trace.label}: {info['requests']:,} requests over "
        f"{float(info['duration_s']) / 86400:.1f} days, first {trace.warmup_s / 3600:.1f} h "
        "back-filled, not scored.",
        headline(outcome, base) + ".",
    ]
    if ref is not None:
        lines.append(
            f"The profile as given: {gpu_hours_text(float(ref.metrics['gpu_hours']))} GPU-h, "
            f"{percent_text(float(ref.metrics['slo_attainment']))} % within the SLO."
        )
    lines += [
        f"Searched: {space.describe()}.",
        f"{len(outcome.trials)} trials ({outcome.sampler}), {len(outcome.distinct)} distinct "
        "candidates; every trial in tune.json.",
    ]
    # Prose wrapped to fit a review diff; table rows stay one line each.
    lines = [wrapped for line in lines for wrapped in textwrap.wrap(line, COMMENT_WIDTH)]
    lines += [
        "",
        f"{'trial':>5} {'GPU-h':>8} {'SLO %':>7} {'meets':>5} {'vs given':>8}  candidate",
    ]
    for record in ranked(outcome)[:rows]:
        lines.append(
            f"{record.number:>5} {gpu_hours_text(record.gpu_hours):>8} "
            f"{percent_text(record.slo_attainment):>7} {'yes' if record.feasible else 'no':>5} "
            f"{_vs_given(outcome, record):>8}  {record.label}"
        )
    return lines


def _table(title: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False)
    for name in ("trial", "GPU-h", "SLO %", "meets", "vs given"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("candidate")
    return table


def _add(table: Table, outcome: SearchOutcome, record: TrialRecord) -> None:
    pick = outcome.pick
    mark = "*" if pick is not None and record.number == pick.number else ""
    table.add_row(
        f"{mark}{record.number}",
        gpu_hours_text(record.gpu_hours),
        percent_text(record.slo_attainment),
        "yes" if record.feasible else "no",
        _vs_given(outcome, record),
        record.label,
    )


def frontier_table(outcome: SearchOutcome) -> Table:
    table = _table("Frontier: the cheapest trial for each SLO attainment reached (* the pick)")
    for record in frontier(outcome):
        _add(table, outcome, record)
    return table


def evidence_table(outcome: SearchOutcome, rows: int = EVIDENCE_ROWS) -> Table:
    shown = ranked(outcome)[:rows]
    more = f"; all {len(outcome.trials)} trials in tune.json" if len(outcome.trials) > rows else ""
    table = _table(f"Evidence: meeting the SLO by GPU-hours, then the closest{more}")
    for record in shown:
        _add(table, outcome, record)
    return table


def tune_json(
    outcome: SearchOutcome,
    base: ModelProfile,
    trace: SweepTrace,
    space: SearchSpace,
    *,
    seed: int,
    replay_seed: int,
    code: str,
    batch: int,
    profile_path: Path | None,
) -> dict[str, Any]:
    ref = outcome.reference
    pick = outcome.pick
    return {
        "version": TUNE_JSON_VERSION,
        "objective": "replay",
        "trace": {
            **trace.ref.as_dict(),
            "label": trace.label,
            "warmup_s": trace.warmup_s,
            "digest": trace.digest,
            "requests": trace.info.get("requests"),
        },
        "seed": seed,
        "replay_seed": replay_seed,
        "code": code,
        "sampler": outcome.sampler,
        "note": outcome.note or None,
        "batch": batch,
        "space": [axis.text() for axis in space.axes],
        "target": {
            "ttft_slo_s": base.ttft_slo_s,
            "ttft_slo_attainment": base.ttft_slo_attainment,
        },
        "replays": {
            "trials": len(outcome.trials),
            "distinct": len(outcome.distinct),
            "replayed": outcome.replayed,
            "cached": outcome.cached,
        },
        "reference": None
        if ref is None
        else {
            "gpu_hours": ref.metrics["gpu_hours"],
            "slo_attainment": ref.metrics["slo_attainment"],
        },
        "pick": None
        if pick is None
        else {
            "trial": pick.number,
            "meets_slo": pick.feasible,
            "gpu_hours": pick.gpu_hours,
            "slo_attainment": pick.slo_attainment,
            "params": pick.params,
            "profile": None if profile_path is None else str(profile_path),
        },
        "frontier": [record.number for record in frontier(outcome)],
        "trials": [record.as_dict() for record in outcome.trials],
    }


def write_json(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return path
