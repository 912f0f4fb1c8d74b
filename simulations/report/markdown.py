"""report.md: the comparison as a person reads it, with the plots beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLUMNS = (
    ("SLO met", "slo_attainment", lambda v: f"{v * 100:.2f} %"),
    ("TTFT p50 (s)", "ttft_p50_s", lambda v: f"{v:.2f}"),
    ("TTFT p95 (s)", "ttft_p95_s", lambda v: f"{v:.2f}"),
    ("TTFT p99 (s)", "ttft_p99_s", lambda v: f"{v:.2f}"),
    ("GPU-hours", "gpu_hours", lambda v: f"{v:,.1f}"),
    ("mean replicas", "mean_replicas", lambda v: f"{v:.2f}"),
    ("peak replicas", "peak_replicas", str),
    ("changes", "replica_changes", str),
    ("dropped", "dropped_requests", lambda v: f"{v:,}"),
)


def write_markdown_report(
    out_dir: Path, summary: dict[str, Any], plots: dict[str, Path], slo_ttft_s: float
) -> Path:
    trace = summary["trace"]
    lines = [
        "# Prewarm simulation report",
        "",
        f"Trace **{trace.get('name', '?')}** ({trace.get('source', '?')}): "
        f"{summary['requests']:,} requests over {summary['duration_s'] / 3600:.1f} h. "
        f"TTFT SLO {slo_ttft_s:g} s.",
        "",
        "| policy | " + " | ".join(title for title, _, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for name, numbers in summary["policies"].items():
        cells = [fmt(numbers[key]) for _, key, fmt in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## How to read this",
        "",
        "- **SLO met**: share of all requests whose first token came within the SLO; "
        "dropped requests count as misses.",
        "- **TTFT percentiles** are over requests that were served.",
        "- **GPU-hours** count every replica from the moment it was requested (cold start "
        "included) until it was released; **mean/peak replicas** are of those paid replicas.",
        "- **dropped**: clients that gave up before their first token (request timeout).",
        "- **oracle** knows future demand and has the same cold start: the lower bound on "
        "GPU-hours at the target utilisation.",
        "",
    ]
    for title, key in (("Demand vs. ready capacity", "capacity"), ("TTFT", "ttft")):
        if key in plots:
            lines += [f"## {title}", "", f"![{title}]({plots[key].name})", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
