"""The scaler process the load benchmark talks to: the real gRPC/HTTP app and registry,
fed by a synthetic source that answers for any model name (one distinct model per
ScaledObject), so the benchmark measures the RPC path and per-model memory, not Prometheus.

    .venv/bin/python benchmarks/scaler_server.py GRPC_PORT HTTP_PORT
"""

from __future__ import annotations

import asyncio
import signal
import sys
import zlib
from pathlib import Path

from autoscaler.clock import SystemClock
from autoscaler.metrics.source import ModelQuery
from autoscaler.observation import Observation
from autoscaler.profile import load_profile
from autoscaler.scaler.app import ScalerApp
from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry

PROFILE = Path(__file__).resolve().parents[1] / "autoscaler" / "profiles" / "default.yaml"


class AnyModelSource:
    """Each model gets a steady demand of its own (from a hash of its name)."""

    def _obs(self, model: str, t_s: float) -> Observation:
        replicas = 1 + zlib.crc32(model.encode()) % 8
        return Observation(
            t_s=t_s,
            prompt_tokens_per_s=6000.0 * replicas,
            generation_tokens_per_s=1500.0 * replicas,
            requests_running=20.0 * replicas,
            requests_waiting=0.0,
            kv_cache_usage=0.3,
            ready_replicas=replicas,
            requests_per_s=3.0 * replicas,
        )

    async def latest(self, query: ModelQuery, now_s: float) -> Observation | None:
        return self._obs(query.model, now_s)

    async def history(
        self, query: ModelQuery, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        return []  # a cold start for every model: the steady state of memory is what counts


async def main(grpc_port: int, http_port: int) -> None:
    profile = load_profile(PROFILE)
    source = AnyModelSource()
    metrics = DecisionMetrics()
    registry = ScalerRegistry(
        ProfileBook({"default": profile}),
        lambda url: source,
        SystemClock(),
        listeners=(metrics,),
    )
    app = ScalerApp(registry, metrics, "127.0.0.1", grpc_port, "127.0.0.1", http_port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await app.run(stop)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
