"""The comparison table printed at the end of `prewarm simulate` (fits 80 columns)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table


def comparison_table(summary: dict[str, Any]) -> Table:
    policies: dict[str, dict[str, Any]] = summary["policies"]
    oracle = policies.get("oracle")
    table = Table(
        title=f"{summary['requests']:,} requests over {summary['duration_s'] / 3600:.1f} h "
        "(TTFT in s; full numbers in summary.json)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
        padding=(0, 1),
    )
    headers = ["policy", "SLO met", "p50", "p99", "GPU-h"]
    if oracle:
        headers.append("/oracle")
    headers += ["peak", "changes", "dropped"]
    for header in headers:
        table.add_column(header, justify="left" if header == "policy" else "right", no_wrap=True)
    for name, p in policies.items():
        row = [
            name,
            f"{p['slo_attainment'] * 100:.2f}%",
            f"{p['ttft_p50_s']:.2f}",
            f"{p['ttft_p99_s']:.2f}",
            f"{p['gpu_hours']:,.0f}",
        ]
        if oracle:
            ratio = p["gpu_hours"] / oracle["gpu_hours"] if oracle["gpu_hours"] else 0.0
            row.append(f"{ratio:.2f}x")
        row += [str(p["peak_replicas"]), str(p["replica_changes"]), f"{p['dropped_requests']:,}"]
        table.add_row(*row)
    return table
