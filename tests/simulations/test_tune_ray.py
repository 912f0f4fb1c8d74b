"""`prewarm tune --ray-address`: the sweep's Ray executor runs tune's replays, and the same
seed gives the same trials as on local workers. A real 2-CPU loopback cluster (skips without
Ray, fails under CI=true)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulations.sweep.ray_executor import RaySweepExecutor, connect, disconnect
from simulations.sweep.ray_local import RayCluster
from tests.simulations.ray_cluster import local_cluster
from tests.simulations.sweep_helpers import small_plan, write_rate_trace
from tests.simulations.test_cli_simulate import prewarm


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    started = local_cluster(cpus=2)
    try:
        yield started
    finally:
        started.stop()


def tune_args(trace: Path, out: Path) -> list[str]:
    return [
        "tune", "--trace", str(trace), "--format", "rate", "--warmup-s", "1800",
        "--space", "given", "--range", "target_utilisation=0.6:0.9:0.05",
        "--choices", "forecast.quantile=0.9,0.95", "--trials", "6", "--batch", "3",
        "--seed", "2", "--out", str(out),
    ]  # fmt: skip


def _trials(out: Path) -> list[dict[str, object]]:
    doc = json.loads((out / "tune.json").read_text())
    return [{k: v for k, v in t.items() if k != "cached"} for t in doc["trials"]]


def test_tune_on_ray_gives_the_trials_of_local_workers(tmp_path: Path, cluster: RayCluster) -> None:
    trace = write_rate_trace(tmp_path, hours=2.0)
    local = prewarm(*tune_args(trace, tmp_path / "local"), "--workers", "2")
    assert local.returncode == 0, local.stdout + local.stderr
    on_ray = prewarm(*tune_args(trace, tmp_path / "ray"), "--ray-address", cluster.address)
    assert on_ray.returncode == 0, on_ray.stdout + on_ray.stderr + cluster.log_tail()
    assert f"Ray at {cluster.address} (2 CPUs)" in " ".join(on_ray.stdout.split())
    doc = json.loads((tmp_path / "ray" / "tune.json").read_text())
    assert doc["sampler"].startswith("TPE") and doc["replays"]["replayed"] > 0
    assert _trials(tmp_path / "ray") == _trials(tmp_path / "local")


def test_tune_puts_its_trace_in_the_object_store_once_for_every_batch(
    tmp_path: Path, cluster: RayCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = small_plan(write_rate_trace(tmp_path, hours=2.0), ["target_utilisation=0.6,0.7,0.8"],
                      families=["reactive-tokens"])  # fmt: skip
    ray: Any = connect(cluster.address)
    try:
        puts: list[object] = []
        put = ray.put

        def counting_put(value: object) -> Any:
            puts.append(value)
            return put(value)

        monkeypatch.setattr(ray, "put", counting_put)
        executor = RaySweepExecutor(ray, keep_traces=True)  # as tune makes it
        batches = [plan.tasks[:2], plan.tasks[2:]]
        done = [task.key for batch in batches for task, _ in executor.run(batch)]
        executor.close()
    finally:
        disconnect()
    assert sorted(done) == sorted(task.key for task in plan.tasks) and len(batches[1]) >= 1
    assert [type(p).__name__ for p in puts] == ["RequestTrace"]
