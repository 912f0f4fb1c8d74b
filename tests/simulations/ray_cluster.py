"""The local Ray cluster the tests run on (simulations/sweep/ray_local.py): 2 CPUs on
loopback, its own ports, temp dir and process group. When it cannot start (Ray missing, the
head failing) the tests skip with the reason; under CI=true they fail instead.
"""

from __future__ import annotations

import os

import pytest

from simulations.sweep.ray_local import ClusterError, RayCluster, start_cluster


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def local_cluster(cpus: int = 2) -> RayCluster:
    try:
        return start_cluster(cpus)
    except ClusterError as exc:
        if _ci():
            pytest.fail(f"CI=true but the local Ray cluster did not start: {exc}")
        pytest.skip(f"the local Ray cluster did not start: {exc}")
