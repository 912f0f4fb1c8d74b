"""`prewarm serve`'s placement wiring (prewarm_cli/placement.py) against the in-process API
server, reached through a kubeconfig as in a cluster: the scaler's decisions reach the board,
the Lease is taken, and the plan is written, with no test code between the parts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from autoscaler.clock import ManualClock
from prewarm_cli.placement import DecisionBoard, run_placement
from tests.kube_api_server import ApiServer, serve_api
from tests.kube_api_server import resources as served
from tests.kube_api_server.server import TOKEN
from tests.scheduler_kubernetes.live_api import wait_until
from tests.scheduler_kubernetes.placement_cluster import (
    LLAMA_8B,
    LLAMA_70B,
    NS,
    START_S,
    config,
    decision,
    seed,
    stored,
    tracked,
)


def kubeconfig(server: ApiServer, path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": {"server": server.url}}],
                "users": [{"name": "prewarm", "user": {"token": TOKEN}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "prewarm"}}],
                "current-context": "test",
            }
        )
    )
    return path


async def yield_only(seconds: float) -> None:
    """Every wait passes at once: the Lease is renewed and the loop turns as fast as HTTP."""
    await asyncio.sleep(0)


async def test_serve_wiring_takes_the_lease_and_writes_what_the_scaler_decided(
    tmp_path: Path,
) -> None:
    cfg = config(debounce_s=0, lease={"namespace": NS})
    board = DecisionBoard()
    registry = CollectorRegistry()
    stop = asyncio.Event()
    async with serve_api() as server:
        seed(server)
        path = kubeconfig(server, tmp_path / "kubeconfig")
        placing = asyncio.create_task(
            run_placement(cfg, board, ManualClock(START_S), registry, stop, None, path, yield_only)
        )
        try:
            board(tracked(LLAMA_8B, f"{NS}/llama-8b"), decision(2, 2))
            board(tracked(LLAMA_70B, f"{NS}/llama-70b"), decision(1, 1))

            def written() -> bool:
                names = {c["metadata"]["name"] for c in stored(server, served.CONFIGMAPS)}
                return "prewarm-placement-meta-llama-llama-3-1-8b-instruct" in names

            await wait_until(written, "the plan was written")
            assert registry.get_sample_value("prewarm_placement_leader") == 1
            lease = server.store.get(served.LEASES, NS, cfg.lease.name)["spec"]
            assert lease["holderIdentity"]
        finally:
            stop.set()
            await asyncio.wait_for(placing, 5.0)
        # Stopping released the Lease: the next replica takes it at once.
        assert (
            server.store.get(served.LEASES, NS, cfg.lease.name)["spec"].get("holderIdentity")
            is None
        )
