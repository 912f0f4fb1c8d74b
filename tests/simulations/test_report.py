"""summary.json numbers, its fixed shape, and the report files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simulations.report import build_summary, write_report
from simulations.report.summary import policy_summary, slo_violations
from simulations.run_result import PolicyRun

KEYS = {
    "slo_attainment",
    "ttft_p50_s",
    "ttft_p95_s",
    "ttft_p99_s",
    "gpu_hours",
    "mean_replicas",
    "peak_replicas",
    "replica_changes",
    "dropped_requests",
}


def run(name: str, ttft: list[float], dropped: list[bool], requested: list[int]) -> PolicyRun:
    ticks = len(requested)
    return PolicyRun(
        policy=name,
        tick_s=1.0,
        t_s=np.arange(ticks, dtype=float),
        demand_replicas=np.linspace(1, 3, ticks),
        ready_replicas=np.asarray(requested, dtype=np.int32),
        requested_replicas=np.asarray(requested, dtype=np.int32),
        ttft_s=np.asarray(ttft, dtype=np.float32),
        dropped=np.asarray(dropped, dtype=bool),
        gpu_hours=sum(requested) / 3600,
        replica_changes=3,
        slo_ttft_s=2.0,
    )


def test_numbers_follow_their_definitions() -> None:
    # 10 requests: 2 over the SLO, 1 dropped -> 7 met.
    ttft = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 3.0, 4.0, 120.0]
    dropped = [False] * 9 + [True]
    r = run("p", ttft, dropped, [2, 2, 4, 4])
    s = policy_summary(r)
    assert set(s) == KEYS
    assert s["slo_attainment"] == pytest.approx(0.7)
    assert slo_violations(r) == 3
    served = np.asarray(ttft[:9], dtype=np.float32)
    assert s["ttft_p50_s"] == pytest.approx(float(np.quantile(served, 0.5)), rel=1e-5)
    assert s["ttft_p99_s"] == pytest.approx(float(np.quantile(served, 0.99)), rel=1e-5)
    assert s["mean_replicas"] == 3.0
    assert s["peak_replicas"] == 4
    assert s["dropped_requests"] == 1
    assert s["gpu_hours"] == pytest.approx(12 / 3600, rel=1e-5)


def test_no_requests_is_not_an_error() -> None:
    s = policy_summary(run("empty", [], [], [1]))
    assert s["slo_attainment"] == 1.0 and s["ttft_p99_s"] == 0.0


def test_report_files_and_json_shape(tmp_path: Path) -> None:
    runs = [
        run("predictive", [0.5] * 20, [False] * 20, [3] * 7200),
        run("oracle", [0.6] * 19 + [9.0], [False] * 20, [2] * 7200),
    ]
    summary = build_summary({"name": "t"}, 20, 7199.0, runs)
    paths = write_report(tmp_path, summary, runs)
    loaded = json.loads(paths["summary"].read_text())
    assert set(loaded) == {"trace", "requests", "duration_s", "policies"}
    assert loaded["requests"] == 20
    assert set(loaded["policies"]) == {"predictive", "oracle"}
    assert all(set(p) == KEYS for p in loaded["policies"].values())
    for key in ("capacity", "ttft"):
        data = paths[key].read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
    report = paths["report"].read_text()
    assert "| predictive |" in report and "| oracle |" in report
    for link in ("capacity.png", "ttft.png"):
        assert f"({link})" in report and (tmp_path / link).exists()
