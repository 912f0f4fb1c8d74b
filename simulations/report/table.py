"""The comparison table printed at the end of `prewarm simulate`."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def comparison_table(summary: dict[str, Any]) -> Table:
    policies: dict[str, dict[str, Any]] = summary["policies"]
    oracle = policies.get("oracle")
    table = Table(title=f"{summary['requests']:,} requests, {summary['duration_s'] / 3600:.1f} h")
    for header in ("policy", "SLO met", "TTFT p50", "p95", "p99", "GPU-h"):
        table.add_column(header, justify="left" if header == "policy" else "right")
    if oracle:
        table.add_column("vs oracle", justify="right")
    for header in ("mean repl.", "peak", "changes", "dropped"):
        table.add_column(header, justify="right")
    for name, p in policies.items():
        row = [
            name,
            f"{p['slo_attainment'] * 100:.2f} %",
            f"{p['ttft_p50_s']:.2f} s",
            f"{p['ttft_p95_s']:.2f} s",
            f"{p['ttft_p99_s']:.2f} s",
            f"{p['gpu_hours']:,.1f}",
        ]
        if oracle:
            ratio = p["gpu_hours"] / oracle["gpu_hours"] if oracle["gpu_hours"] else 0.0
            row.append(f"{ratio:.2f}x")
        row += [
            f"{p['mean_replicas']:.2f}",
            str(p["peak_replicas"]),
            str(p["replica_changes"]),
            f"{p['dropped_requests']:,}",
        ]
        table.add_row(*row)
    return table
