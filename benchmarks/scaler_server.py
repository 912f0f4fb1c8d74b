"""The scaler process the load benchmark talks to: the real gRPC/HTTP app and registry,
fed by a synthetic source that answers for any model name (one distinct model per
ScaledObject), so the benchmark measures the RPC path and per-model memory, not Prometheus.
Set up as `prewarm serve` sets itself up by default: one refit worker, tuned for latency.

    .venv/bin/python benchmarks/scaler_server.py GRPC_PORT HTTP_PORT [--history-h H]
        [--probe-out PATH]

Each model's demand follows a daily cycle of its own. `--history-h` hours of it are
back-filled per model, as after a restart (0: every model starts cold, forecasting the last
value, which makes decisions cheaper and windows emptier than in steady state).
With `--probe-out`, event-loop stalls and gc pauses are recorded from SIGUSR1 (sent when the
measured load starts) and written there at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
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
from autoscaler.scaler.latency_tuning import run_serving_loop, tune_for_latency
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry

PROFILE = Path(__file__).resolve().parents[1] / "autoscaler" / "profiles" / "default.yaml"


DAY_S = 86400.0


class AnyModelSource:
    """Each model gets a daily cycle of its own: its size and phase from a hash of its name."""

    def __init__(self, history_s: float) -> None:
        self.history_s = history_s

    def _obs(self, model: str, t_s: float) -> Observation:
        seed = zlib.crc32(model.encode())
        size = 1 + seed % 8
        phase = (seed >> 8) % 1000 / 1000
        level = size * (1.0 + 0.4 * math.sin(2 * math.pi * (t_s / DAY_S + phase)))
        return Observation(
            t_s=t_s,
            prompt_tokens_per_s=6000.0 * level,
            generation_tokens_per_s=1500.0 * level,
            requests_running=20.0 * level,
            requests_waiting=0.0,
            kv_cache_usage=0.3,
            ready_replicas=size,
            requests_per_s=3.0 * level,
        )

    async def latest(self, query: ModelQuery, now_s: float) -> Observation | None:
        return self._obs(query.model, now_s)

    async def history(
        self, query: ModelQuery, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        start_s = max(start_s, end_s - self.history_s)
        steps = int((end_s - start_s) // step_s)
        return [self._obs(query.model, end_s - (steps - i) * step_s) for i in range(steps)]


async def main(grpc_port: int, http_port: int, history_h: float, probe_out: Path | None) -> None:
    profile = load_profile(PROFILE)
    source = AnyModelSource(history_h * 3600)
    metrics = DecisionMetrics()
    clock = SystemClock()
    registry = ScalerRegistry(
        ProfileBook({"default": profile}),
        lambda url: source,
        clock,
        listeners=(metrics,),
        on_drop=(metrics.forget,),
        engine_for=lambda p: ModelEngine(p, inline_refits=False),
    )
    refits = BackgroundRefits(registry, RefitPool(1), clock, 60.0)
    app = ScalerApp(
        registry,
        metrics,
        "127.0.0.1",
        grpc_port,
        "127.0.0.1",
        http_port,
        refits=refits,
        freeze_when_settled=True,
        grpc_process=True,
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
        probe_out.write_text(probe.summary("scaler main process"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grpc_port", type=int)
    parser.add_argument("http_port", type=int)
    parser.add_argument("--history-h", type=float, default=0.0)
    parser.add_argument("--probe-out", type=Path)
    args = parser.parse_args()
    run_serving_loop(main(args.grpc_port, args.http_port, args.history_h, args.probe_out))
