"""The comparison table printed at the end of `prewarm simulate`.

Every per-policy number of summary.json, in 80 columns for typical values: multi-line
headers, TTFTs of at most four characters and one space between columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich import box
from rich.table import Table


def duration_text(seconds: float) -> str:
    """Minutes, hours or days (25 min, 8.0 h, 7.0 days): hours alone read badly at both ends."""
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def warmup_text(summary: dict[str, Any]) -> str:
    """ " after a 1.0-day warm-up", or "" without one (older summaries have no key)."""
    warmup_s = summary.get("warmup_s", 0.0)
    return f" after a {duration_text(warmup_s)} warm-up" if warmup_s else ""


def gpu_hours_text(value: float) -> str:
    """Two or three significant digits, fixed decimals per magnitude: 0.0033, 4.56, 78.9,
    1,234 (`g` formatting would print 32.0 as "32" beside "24.9")."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.2g}"


def percent_text(fraction: float) -> str:
    """A share as a percentage with two decimals, never "100.00" unless it is exactly 1:
    99.996 % of 17 M requests is still 680 misses."""
    text = f"{fraction * 100:.2f}"
    return "99.99" if text == "100.00" and fraction < 1 else text


def oracle_ratio(numbers: dict[str, Any], oracle: dict[str, Any]) -> str:
    """GPU-hours relative to the oracle's, e.g. "1.06x"; "-" when the oracle used none."""
    if not oracle["gpu_hours"]:
        return "-"
    ratio = numbers["gpu_hours"] / oracle["gpu_hours"]
    return f"{ratio:.2f}x" if ratio < 100 else f"{ratio:,.0f}x"


def seconds_text(value: float) -> str:
    """At most four characters below 1,000 s: 0.26, 1.93, 12.3, 101."""
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


# (header, summary key, formatter). Headers are short: the title says TTFT is in seconds.
COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("SLO %", "slo_attainment", percent_text),
    ("TTFT\np50", "ttft_p50_s", seconds_text),
    ("TTFT\np95", "ttft_p95_s", seconds_text),
    ("TTFT\np99", "ttft_p99_s", seconds_text),
    ("GPU-h", "gpu_hours", gpu_hours_text),
    ("mean\nrepl.", "mean_replicas", lambda v: f"{v:.1f}"),
    ("peak\nrepl.", "peak_replicas", lambda v: f"{v:,}"),
    ("changes", "replica_changes", lambda v: f"{v:,}"),
    ("dropped", "dropped_requests", lambda v: f"{v:,}"),
)
ORACLE_HEADER = "GPU-h\nvs\noracle"  # "GPU-h vs oracle", narrow


def comparison_table(summary: dict[str, Any]) -> Table:
    """One row per policy, in summary order; a "GPU-h vs oracle" column (ratio of GPU-hours
    to the oracle's) right after GPU-h when an "oracle" policy is present."""
    policies: dict[str, dict[str, Any]] = summary["policies"]
    oracle = policies.get("oracle")
    table = Table(
        title=f"{summary['requests']:,} requests over {duration_text(summary['duration_s'])}"
        f"{warmup_text(summary)} (TTFT in s; full numbers in summary.json)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 0),  # SIMPLE_HEAD's space divider is the gap; 11 columns fit 80 chars
    )
    table.add_column("policy", justify="left", no_wrap=True)
    for header, key, _ in COLUMNS:
        table.add_column(header, justify="right", no_wrap=True)
        if key == "gpu_hours" and oracle is not None:
            table.add_column(ORACLE_HEADER, justify="right", no_wrap=True)
    for name, numbers in policies.items():
        row = [name]
        for _, key, fmt in COLUMNS:
            row.append(fmt(numbers[key]))
            if key == "gpu_hours" and oracle is not None:
                row.append(oracle_ratio(numbers, oracle))
        table.add_row(*row)
    return table


# With --inventory: a second table, so the first keeps fitting 80 columns.
PLACEMENT_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("unplaced\nreplica-h", "unplaced_replica_seconds", lambda v: f"{v / 3600:,.2f}"),
    ("peak\nunplaced", "peak_unplaced_replicas", lambda v: f"{v:,}"),
    ("never\nstarted", "replicas_never_started", lambda v: f"{v:,}"),
    ("nodes\nprovisioned", "nodes_provisioned", lambda v: f"{v:,}"),
    ("waited\nfor a node", "replicas_waited_for_nodes", lambda v: f"{v:,}"),
)


def placement_table(summary: dict[str, Any]) -> Table | None:
    """One row per policy with the placement numbers, or None when the run had no inventory."""
    policies: dict[str, dict[str, Any]] = summary["policies"]
    if not any("unplaced_replica_seconds" in numbers for numbers in policies.values()):
        return None
    source = summary.get("placement", {}).get("inventory", "the inventory")
    table = Table(
        title=f"Placement on {source} (unplaced: asked for, on no node)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1),
    )
    table.add_column("policy", justify="left", no_wrap=True)
    for header, _, _ in PLACEMENT_COLUMNS:
        table.add_column(header, justify="right", no_wrap=True)
    for name, numbers in policies.items():
        if "unplaced_replica_seconds" in numbers:
            table.add_row(name, *(fmt(numbers[key]) for _, key, fmt in PLACEMENT_COLUMNS))
    return table
