"""summary.json: the numbers scripts rely on. Its shape is a contract; keep it stable.

    {"trace": {...}, "requests": N, "duration_s": S, "warmup_s": W,
     "policies": {"<name>": {"slo_attainment": f, "ttft_p50_s": f, "ttft_p95_s": f,
                             "ttft_p99_s": f, "gpu_hours": f, "mean_replicas": f,
                             "peak_replicas": n, "replica_changes": n, "dropped_requests": n}}}

- trace: the whole trace as loaded; requests / duration_s: the part replayed and scored,
  after the first warmup_s seconds (back-filled into the predictive engine's history).
- slo_attainment: share of ALL requests served (not dropped) with TTFT <= the SLO; 1.0
  when there were no requests.
- ttft_p50_s / _p95_s / _p99_s: TTFT percentiles over served requests (0.0 if none).
- gpu_hours: as the replay accounted it (every requested replica, cold start included),
  over the replayed span up to the last arrival (the drain after it is not billed).
- mean_replicas / peak_replicas: time average / maximum of requested replicas, the ones paid.
- replica_changes: as the replay counted them; dropped_requests: clients that gave up.
- With `--inventory` only (absent otherwise), per policy: unplaced_replica_seconds (replicas
  asked for but on no node, summed over the scored span, x s), peak_unplaced_replicas,
  replicas_never_started (asked for and released, or still pending at the end, without ever
  being placed), nodes_provisioned, replicas_waited_for_nodes (placed on a node that was still
  being provisioned); and a top-level "placement" describing the inventory and the replica's
  needs (the CLI adds it).

Every value is a plain Python type (no numpy scalars, no NaN or inf), so `json.dumps` works
without a custom encoder and a summary compares equal to its own JSON round trip.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulations.run_result import PolicyRun

SIGNIFICANT_DIGITS = 6


def _round(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """`digits` significant digits as a plain float; NaN and inf become 0.0 (JSON has
    neither, and a metric that is not finite means there was nothing to measure)."""
    value = float(value)
    if not math.isfinite(value) or value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")


def _fraction(hits: int, total: int) -> float:
    """hits / total rounded, but never to exactly 1.0 unless every request hit: at 17 M
    requests, 5 misses round to 1.0 at six digits and a report would claim a perfect SLO."""
    if total == 0 or hits == total:
        return 1.0
    value = hits / total
    for digits in range(SIGNIFICANT_DIGITS, 18):
        rounded = _round(value, digits)
        if rounded < 1.0:
            return rounded
    return value


def _plain(value: Any) -> Any:
    """A JSON-safe copy of trace metadata: numpy scalars and arrays to Python, tuples to
    lists, non-finite floats to None (loaders put whatever they measured in `meta`)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # Path, datetime, ...: readable rather than a crash in json.dumps


def slo_met(run: PolicyRun) -> np.ndarray:
    """Per request: served (not dropped) with TTFT within the SLO."""
    return (~run.dropped) & (run.ttft_s <= run.slo_ttft_s)


def slo_violations(run: PolicyRun) -> int:
    """Requests that missed the SLO, dropped ones included."""
    return int(run.ttft_s.size - np.count_nonzero(slo_met(run)))


def policy_summary(run: PolicyRun) -> dict[str, Any]:
    """The per-policy numbers of summary.json (definitions in the module docstring)."""
    n = int(run.ttft_s.size)
    served = run.ttft_s[~run.dropped].astype(np.float64)
    p50 = p95 = p99 = 0.0
    if served.size:
        p50, p95, p99 = np.quantile(served, [0.5, 0.95, 0.99])
    # Ticks are equally long, so the plain mean is the time average; requested (starting or
    # ready) replicas are what costs GPU time, so that is the series averaged.
    requested = np.asarray(run.requested_replicas, dtype=np.float64)
    requested = requested[np.isfinite(requested)]
    return {
        "slo_attainment": _fraction(int(np.count_nonzero(slo_met(run))), n),
        "ttft_p50_s": _round(p50),
        "ttft_p95_s": _round(p95),
        "ttft_p99_s": _round(p99),
        "gpu_hours": _round(run.gpu_hours),
        "mean_replicas": _round(requested.mean()) if requested.size else 0.0,
        "peak_replicas": int(round(requested.max())) if requested.size else 0,
        "replica_changes": int(run.replica_changes),
        "dropped_requests": int(np.count_nonzero(run.dropped)),
        **placement_summary(run),
    }


PLACEMENT_KEYS = (
    "unplaced_replica_seconds",
    "peak_unplaced_replicas",
    "replicas_never_started",
    "nodes_provisioned",
    "replicas_waited_for_nodes",
)


def placement_summary(run: PolicyRun) -> dict[str, Any]:
    """The placement numbers of a run on an inventory ({} without one)."""
    if run.unplaced_replicas is None or run.placement is None:
        return {}
    unplaced = np.asarray(run.unplaced_replicas, dtype=np.int64)
    return {
        "unplaced_replica_seconds": _round(float(unplaced.sum()) * run.tick_s),
        "peak_unplaced_replicas": int(unplaced.max()) if unplaced.size else 0,
        "replicas_never_started": run.placement.replicas_never_started,
        "nodes_provisioned": run.placement.nodes_provisioned,
        "replicas_waited_for_nodes": run.placement.replicas_waited_for_nodes,
    }


def build_summary(
    trace_info: dict[str, Any],
    n_requests: int,
    duration_s: float,
    runs: Sequence[PolicyRun],
    *,
    warmup_s: float = 0.0,
) -> dict[str, Any]:
    """summary.json's content; `trace_info` is usually `RequestTrace.describe()`.

    Policies keep the order of `runs`; two runs with the same policy name would overwrite
    each other, so that is refused.
    """
    names = [run.policy for run in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"policy names must be unique, got {names}")
    return {
        "trace": _plain(trace_info),
        "requests": int(n_requests),
        "duration_s": _round(duration_s, 9),
        "warmup_s": _round(warmup_s, 9),
        "policies": {run.policy: policy_summary(run) for run in runs},
    }


def write_summary_json(path: Path | str, summary: dict[str, Any]) -> Path:
    """Writes `summary` as indented JSON; refuses NaN/inf rather than writing invalid JSON."""
    path = Path(path)
    path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return path
