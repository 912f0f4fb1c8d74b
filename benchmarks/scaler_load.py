"""Benchmark: 1,000 ScaledObjects polled the way KEDA does, plus 1,000 open push streams.

Goal (issue 3): GetMetrics p99 <= 5 ms, no errors, scaler RSS <= 300 MB. The scaler runs as
its own process (benchmarks/scaler_server.py: the real app and registry, one distinct model
per ScaledObject, a synthetic source); this process plays KEDA over loopback gRPC:
a polling loop (30 s) and an HPA loop (15 s, 3 s deadline) per ScaledObject, started at
seeded random offsets, and one StreamIsActive each.

    .venv/bin/python benchmarks/scaler_load.py [--scaled-objects 1000] [--duration-s 60]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx

from external_scaler_proto import externalscaler_pb2 as pb
from simulations.keda.client import CallLog, KedaLikeClient, percentile_ms

SERVER = Path(__file__).resolve().parent / "scaler_server.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def refs(n: int) -> list[pb.ScaledObjectRef]:
    return [
        pb.ScaledObjectRef(
            name=f"so-{i:04d}",
            namespace="bench",
            scalerMetadata={"model": f"model-{i:04d}", "scalerAddress": "prewarm:9090"},
        )
        for i in range(n)
    ]


async def wait_ready(http_port: int, n: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                models = (await client.get(f"http://127.0.0.1:{http_port}/models")).json()
                if len(models) >= n and all(m["replicas"] is not None for m in models):
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError("the scaler did not decide for every ScaledObject in time")


async def run(n: int, duration_s: float, seed: int, streams: bool = True) -> None:
    grpc_port, http_port = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, str(SERVER), str(grpc_port), str(http_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
        await asyncio.wait_for(channel.channel_ready(), timeout=60)
        warm = KedaLikeClient(channel, CallLog())
        scaled_objects = refs(n)
        await asyncio.gather(*(warm._call("GetMetricSpec", r, 10) for r in scaled_objects))
        await wait_ready(http_port, n)
        rss_before = rss_mib(server.pid)

        client = KedaLikeClient(channel)
        stop = asyncio.Event()
        rng = random.Random(seed)

        async def staggered(coro_factory, offset_s: float):  # type: ignore[no-untyped-def]
            await asyncio.sleep(offset_s)
            await coro_factory()

        tasks = []
        for r in scaled_objects:
            tasks.append(
                asyncio.create_task(
                    staggered(lambda r=r: client.polling_loop(r, 30.0, stop), rng.uniform(0, 30))
                )
            )
            tasks.append(
                asyncio.create_task(
                    staggered(lambda r=r: client.hpa_loop(r, 15.0, stop), rng.uniform(0, 15))
                )
            )
            if streams:
                tasks.append(asyncio.create_task(client.push_stream(r, stop)))
        peak_rss = rss_before
        started = time.monotonic()
        while time.monotonic() - started < duration_s:
            await asyncio.sleep(1.0)
            peak_rss = max(peak_rss, rss_mib(server.pid))
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await channel.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    log = client.log
    get_metrics = log.latencies_s.get("GetMetrics", [])
    calls = sum(log.codes.values())
    print(f"scaled objects: {n}, duration {duration_s:.0f} s, push streams: {n if streams else 0}")
    print(f"calls: {calls:,} ({calls / duration_s:,.0f}/s), errors: {log.error_count()}")
    for method in ("GetMetricSpec", "GetMetrics", "IsActive"):
        samples = log.latencies_s.get(method, [])
        print(
            f"  {method:14s} n={len(samples):6,d}  p50 {percentile_ms(samples, 0.5):6.2f} ms"
            f"  p99 {percentile_ms(samples, 0.99):6.2f} ms"
        )
    print(f"GetMetrics p99: {percentile_ms(get_metrics, 0.99):.2f} ms (goal <= 5 ms)")
    print(
        f"scaler RSS: {rss_before:.0f} MiB after warm-up, peak {peak_rss:.0f} MiB (goal <= 300 MB)"
    )
    if log.errors:
        print("first errors:", log.errors[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scaled-objects", type=int, default=1000)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-streams", action="store_true", help="leave out the push streams")
    args = parser.parse_args()
    asyncio.run(run(args.scaled_objects, args.duration_s, args.seed, not args.no_streams))


if __name__ == "__main__":
    main()
