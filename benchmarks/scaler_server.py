"""The scaler process the load benchmark talks to: the real gRPC/HTTP app and registry,
fed by a synthetic source that answers for any model name (one distinct model per
ScaledObject), so the benchmark measures the RPC path and per-model memory, not Prometheus.
Set up as `prewarm serve` sets itself up by default: one refit worker, tuned for latency.

    .venv/bin/python benchmarks/scaler_server.py GRPC_PORT HTTP_PORT [PROBE_OUT]

With PROBE_OUT, event-loop stalls and gc pauses are recorded from SIGUSR1 (sent when the
measured load starts) and written there at exit.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import zlib
from pathlib import Path

from stall_probe import StallProbe  # benchmarks/ is on the path when run as a script

from autoscaler.clock import SystemClock
from autoscaler.engine import ModelEngine
from autoscaler.forecast.refit_pool import RefitPool
from autoscaler.metrics.source import ModelQuery
from autoscaler.observation import Observation
from autoscaler.profile import load_profile
from autoscaler.scaler.app import ScalerApp
from autoscaler.scaler.background_refits import BackgroundRefits
from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.latency_tuning import tune_for_latency
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


async def main(grpc_port: int, http_port: int, probe_out: Path | None) -> None:
    profile = load_profile(PROFILE)
    source = AnyModelSource()
    metrics = DecisionMetrics()
    clock = SystemClock()
    registry = ScalerRegistry(
        ProfileBook({"default": profile}),
        lambda url: source,
        clock,
        listeners=(metrics,),
        engine_for=lambda p: ModelEngine(p, inline_refits=False),
    )
    refits = BackgroundRefits(registry, RefitPool(1), clock, 60.0)
    app = ScalerApp(
        registry, metrics, "127.0.0.1", grpc_port, "127.0.0.1", http_port, refits=refits
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tune_for_latency(inline_refits=False)
    probe = StallProbe()
    if probe_out is not None:
        probe.time_collections()
        watching = loop.create_task(probe.watch_loop(stop))
        loop.add_signal_handler(signal.SIGUSR1, probe.reset)
    await app.run(stop)
    if probe_out is not None:
        await watching
        probe_out.write_text(probe.summary("scaler"))


if __name__ == "__main__":
    asyncio.run(
        main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
    )
