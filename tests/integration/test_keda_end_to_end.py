"""Issue 3 end to end: a real Prometheus scrapes the vLLM emulator; the scaler reads it in the
background; a client calls exactly as KEDA does (polling loop + HPA loop with its 3 s
deadline + a push stream, all at once). Prometheus is then stopped and restarted mid-run.

Real time is unavoidable here (Prometheus scrapes on wall time), so the profile is shrunk
to seconds: decisions every 1 s, hold after 3 s without data, invalid after 6 s.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from autoscaler.clock import SystemClock
from autoscaler.metrics.prometheus_source import PrometheusSource
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.scaler.server import start_grpc
from external_scaler_proto import externalscaler_pb2 as pb
from simulations.emulator import EmulatedFleet, EmulatorServer
from simulations.keda.client import KedaLikeClient
from simulations.traces.synthetic import synthetic_trace
from tests.fakes import make_profile
from tests.integration.prometheus_server import PrometheusFactory

MODEL = "llama"


async def _until(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


async def test_keda_loops_against_real_prometheus_with_an_outage(
    prometheus_factory: PrometheusFactory,
) -> None:
    profile = make_profile(
        model=MODEL,
        decision_interval_s=1.0,
        cold_start_s=20.0,
        staleness={"hold_after_s": 3.0, "error_after_s": 6.0},
        forecast={"kind": "last-value", "bucket_s": 1.0, "history_s": 600.0},
    )
    trace = synthetic_trace(duration_s=3600, mean_rps=30.0, burst_rate_per_day=0, seed=5)
    fleet = EmulatedFleet(trace, profile, model_name=MODEL, clock=SystemClock())
    emulator = EmulatorServer(fleet).start()
    prometheus = prometheus_factory(targets=[f"127.0.0.1:{emulator.port}"], scrape_interval_s=1)
    source = PrometheusSource(prometheus.url, rate_window_s=4, timeout_s=1.0)
    registry = ScalerRegistry(
        ProfileBook({"default": profile}), lambda url: source, SystemClock(), source_timeout_s=1.0
    )
    server = await start_grpc(registry, "127.0.0.1", 0)
    registry.start()
    stop = asyncio.Event()
    # Scraped without Kubernetes discovery, the emulator's series carry no namespace label:
    # `namespace: ""` matches the model in any namespace.
    ref = pb.ScaledObjectRef(
        name="chat", namespace="serving", scalerMetadata={"model": MODEL, "namespace": ""}
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            client = KedaLikeClient(channel)
            loops = [
                asyncio.create_task(client.polling_loop(ref, 1.0, stop)),
                asyncio.create_task(client.hpa_loop(ref, 0.5, stop)),
                asyncio.create_task(client.push_stream(ref, stop)),
            ]
            log = client.log

            def ok_values_since(t0: float) -> list[float]:
                return [v for t, _, v in log.values if t >= t0 and v > 0]

            # 1. Data flows: Prometheus scrapes, the scaler decides, KEDA reads replicas > 0.
            await _until(lambda: len(ok_values_since(0)) >= 3, 45, "a first decision")
            await _until(lambda: bool(log.pushes), 10, "StreamIsActive to push true")
            before = ok_values_since(0)[-1]

            # 2. Prometheus goes away: decisions hold (never down), then UNAVAILABLE.
            stopped_at = time.time()
            errors_before = len(log.errors)
            prometheus.stop()

            def stale_errors() -> list[tuple[str, str, str]]:
                return [
                    e
                    for e in log.errors[errors_before:]
                    if e[1] == "UNAVAILABLE" and "newest data is" in e[2]
                ]

            await _until(lambda: bool(stale_errors()), 30, "UNAVAILABLE after the bound")
            during = ok_values_since(stopped_at)
            assert during, "the decision should hold (answer OK) before the bound"
            assert all(v >= before for v in during), (before, during)
            assert "invalid after 6 s" in stale_errors()[0][2]

            # 3. Prometheus returns on the same port and data dir: answers recover by themselves.
            restarted_at = time.time()
            prometheus.start()
            await _until(lambda: len(ok_values_since(restarted_at)) >= 2, 45, "recovery")

            # 4. Malformed metadata is INVALID_ARGUMENT naming the key, on every RPC.
            bad = pb.ScaledObjectRef(
                name="x", namespace="serving", scalerMetadata={"model": MODEL, "modle": "typo"}
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await client.stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=bad), timeout=3)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "'modle'" in (caught.value.details() or "")

            # No call ever ran into the HPA path's 3 s deadline.
            assert not [e for e in log.errors if e[1] == "DEADLINE_EXCEEDED"]
            stop.set()
            await asyncio.gather(*loops, return_exceptions=True)
    finally:
        stop.set()
        await server.stop(0)
        await registry.close()
        emulator.stop()
        source.close()
