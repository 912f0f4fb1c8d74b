"""Sweeps on Ray: a real local cluster (2 CPUs, loopback) against local worker processes.

The cluster is started once for the module (tests/simulations/ray_cluster.py) and stopped
after it; without Ray or when it cannot start the cluster tests skip, under CI=true they fail.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulations.sweep.executor import SweepTaskError
from simulations.sweep.ray_executor import (
    RaySweepExecutor,
    RayUnavailable,
    check_address,
    connect,
    disconnect,
)
from simulations.sweep.ray_local import RayCluster, free_port
from tests.simulations.ray_cluster import local_cluster
from tests.simulations.sweep_helpers import small_plan, write_rate_trace
from tests.simulations.test_cli_simulate import prewarm


@pytest.fixture(scope="module")
def trace_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rate_trace(tmp_path_factory.mktemp("trace"), hours=2.0)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    started = local_cluster(cpus=2)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def ray_session(cluster: RayCluster) -> Iterator[Any]:
    """This process as a driver on the test cluster, for the executor's own tests."""
    ray = connect(cluster.address)
    try:
        yield ray
    finally:
        disconnect()


def sweep_args(trace: Path, out: Path) -> list[str]:
    return [
        "sweep",
        "--trace",
        str(trace),
        "--format",
        "rate",
        "--policies",
        "predictive,reactive-tokens,oracle",
        "--set",
        "target_utilisation=0.6,0.8",
        "--warmup-s",
        "1800",
        "--out",
        str(out),
    ]


def test_the_same_sweep_on_ray_and_on_local_workers_gives_identical_points(
    tmp_path: Path, trace_path: Path, cluster: RayCluster
) -> None:
    local = prewarm(*sweep_args(trace_path, tmp_path / "local"), "--workers", "2")
    assert local.returncode == 0, local.stdout + local.stderr
    on_ray = prewarm(*sweep_args(trace_path, tmp_path / "ray"), "--ray-address", cluster.address)
    assert on_ray.returncode == 0, on_ray.stdout + on_ray.stderr + cluster.log_tail()
    text = " ".join(on_ray.stdout.split())
    assert f"Ray at {cluster.address} (2 CPUs)" in text
    assert "6 replays run, 0 from the cache" in text

    local_json = json.loads((tmp_path / "local" / "sweep.json").read_text())
    ray_json = json.loads((tmp_path / "ray" / "sweep.json").read_text())
    assert len(ray_json["points"]) == 6
    assert ray_json["points"] == local_json["points"]
    assert ray_json["traces"] == local_json["traces"]


def test_a_trace_is_put_in_the_object_store_once_for_all_its_tasks(
    trace_path: Path, ray_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = small_plan(trace_path, ["target_utilisation=0.6,0.8"], families=("reactive-tokens",))
    executor = RaySweepExecutor(ray_session)
    puts: list[object] = []
    put = ray_session.put
    monkeypatch.setattr(ray_session, "put", lambda value: puts.append(value) or put(value))
    results = {task.key: result for task, result in executor.run(plan.tasks)}
    assert len(results) == len(plan.tasks) >= 2
    assert [type(p).__name__ for p in puts] == ["RequestTrace"]
    workers = {result.worker for result in results.values()}
    assert all(worker and not worker.endswith(f":{os.getpid()}") for worker in workers)


def test_a_failing_replay_names_its_task(trace_path: Path, ray_session: Any) -> None:
    plan = small_plan(trace_path, [], families=("reactive-tokens",))
    (task,) = plan.tasks
    broken = dataclasses.replace(task, profile={**task.profile, "target_utilisation": 7})
    with pytest.raises(SweepTaskError, match="reactive-tokens on short.csv"):
        list(RaySweepExecutor(ray_session).run([broken]))


def test_a_changed_trace_is_caught_before_it_is_shipped(trace_path: Path, ray_session: Any) -> None:
    plan = small_plan(trace_path, [], families=("reactive-tokens",))
    (task,) = plan.tasks
    stale = dataclasses.replace(task, trace_digest="0" * 32)
    with pytest.raises(SweepTaskError, match="the trace changed while the sweep ran"):
        list(RaySweepExecutor(ray_session).run([stale]))


def test_a_cluster_with_other_simulation_code_is_refused(
    trace_path: Path, ray_session: Any
) -> None:
    plan = small_plan(trace_path, [], families=("reactive-tokens",))
    with pytest.raises(RayUnavailable, match="other simulation code"):
        list(RaySweepExecutor(ray_session, code="f" * 32).run(plan.tasks))


# --- without a cluster -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("auto", None),
        ("ray://head.ray.svc:10001", ("head.ray.svc", 10001)),
        ("127.0.0.1:6379", ("127.0.0.1", 6379)),
        ("ray://[::1]:10001", ("::1", 10001)),
    ],
    ids=["auto", "client", "gcs", "ipv6"],
)
def test_addresses(address: str, expected: tuple[str, int] | None) -> None:
    assert check_address(address) == expected


@pytest.mark.parametrize("address", ["", "head", "ray://head", "http://h:1", "h:99999"])
def test_malformed_addresses(address: str) -> None:
    with pytest.raises(ValueError, match="expected auto, ray://host:port or host:port"):
        check_address(address)


def test_a_malformed_address_exits_2_before_anything_runs(tmp_path: Path, trace_path: Path) -> None:
    result = prewarm(*sweep_args(trace_path, tmp_path / "out"), "--ray-address", "http://h:1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "expected auto, ray://host:port or host:port" in " ".join(result.stdout.split())
    assert not (tmp_path / "out").exists()


def test_an_unreachable_cluster_exits_2_naming_it(tmp_path: Path, trace_path: Path) -> None:

    address = f"ray://127.0.0.1:{free_port()}"
    result = prewarm(*sweep_args(trace_path, tmp_path / "out"), "--ray-address", address)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"cannot reach the Ray cluster at {address}" in " ".join(result.stdout.split())
    assert not (tmp_path / "out" / "sweep.json").exists()


def test_workers_and_a_ray_address_exclude_each_other(tmp_path: Path, trace_path: Path) -> None:
    args = [*sweep_args(trace_path, tmp_path / "out"), "--workers", "2", "--ray-address", "auto"]
    result = prewarm(*args)
    assert result.returncode == 2 and "--workers is for local processes" in result.stdout


def test_without_ray_installed_the_error_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(RayUnavailable, match=r"not installed \(pip install 'prewarm\[ray\]'\)"):
        connect("auto")
