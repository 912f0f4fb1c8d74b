"""summary.json: the numbers scripts rely on. Its shape is a contract; keep it stable."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulations.run_result import PolicyRun


def _round(value: float, digits: int = 6) -> float:
    """Six significant digits, as a plain float (never NaN or inf: JSON has neither)."""
    value = float(value)
    if not math.isfinite(value) or value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")


def slo_met(run: PolicyRun) -> np.ndarray:
    return (~run.dropped) & (run.ttft_s <= run.slo_ttft_s)


def slo_violations(run: PolicyRun) -> int:
    return int(run.ttft_s.size - np.count_nonzero(slo_met(run)))


def policy_summary(run: PolicyRun) -> dict[str, Any]:
    n = run.ttft_s.size
    served = run.ttft_s[~run.dropped]
    if served.size:
        p50, p95, p99 = np.quantile(served, [0.5, 0.95, 0.99])
    else:
        p50 = p95 = p99 = 0.0
    requested = run.requested_replicas
    return {
        "slo_attainment": _round(np.count_nonzero(slo_met(run)) / n) if n else 1.0,
        "ttft_p50_s": _round(p50),
        "ttft_p95_s": _round(p95),
        "ttft_p99_s": _round(p99),
        "gpu_hours": _round(run.gpu_hours),
        "mean_replicas": _round(requested.mean()) if requested.size else 0.0,
        "peak_replicas": int(requested.max()) if requested.size else 0,
        "replica_changes": int(run.replica_changes),
        "dropped_requests": int(np.count_nonzero(run.dropped)),
    }


def build_summary(
    trace_info: dict[str, Any], n_requests: int, duration_s: float, runs: Sequence[PolicyRun]
) -> dict[str, Any]:
    return {
        "trace": trace_info,
        "requests": int(n_requests),
        "duration_s": _round(duration_s, 9),
        "policies": {run.policy: policy_summary(run) for run in runs},
    }


def write_summary_json(path: Path, summary: dict[str, Any]) -> Path:
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path
