"""What one tracked ScaledObject costs in memory: RSS growth per 100, with back-filled windows.

    .venv/bin/python benchmarks/scaler_memory.py [--scaled-objects 2000] [--step 250]
        [--history-h 72] [--fit] [--front]

The scaler's own registry, refreshers and gauges, in this process: each ScaledObject gets a
distinct model (benchmarks/scaler_server.py's synthetic daily cycles) and a name as long as
Kubernetes allows, back-fills `--history-h` hours into its window, then decides (forecasts,
conformal errors, gauges), as after a restart. `--fit` also fits each model's forecaster
parameters here (what the refit worker sends back; the first fit imports statsmodels, ~110
MiB once): slower, and the steady state. Then every ScaledObject is dropped as the idle
eviction drops it, and RSS is read again: CPython keeps freed memory for reuse rather than
returning it, so the peak stays. `--front` measures the gRPC front process instead: a cell
and KEDA's two open streams (StreamIsActive, StreamMetricSpec) per ScaledObject.
The per-ScaledObject figures size `max_scaled_objects` and the pod's memory limit
(deploy/base/deployment.yaml).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import resource
import time

import grpc
from scaler_server import PROFILE, AnyModelSource  # benchmarks/ is on the path as a script

from autoscaler.clock import SystemClock
from autoscaler.engine import ModelEngine
from autoscaler.profile import load_profile
from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.grpc_front_process import GrpcFrontProcess
from autoscaler.scaler.metadata import ScalerTarget, parse_metadata
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry
from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc

MIB = 1024 * 1024


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def target_for(i: int) -> ScalerTarget:
    # Names as long as Kubernetes allows, so the figures are an upper bound for names.
    name = f"so-{i:05d}-" + "x" * (253 - 9)
    return parse_metadata(name, "n" * 63, {"model": f"model-{i:05d}"})


def report(done: int, rss: int, base: int, started: float) -> None:
    each_kib = (rss - base) / done / 1024
    print(f"{done:>8} {rss / MIB:>8.1f} {each_kib:>9.1f} {time.perf_counter() - started:>6.0f}")


def fit_inline(engine: ModelEngine, now_s: float) -> None:
    """What the refit worker does for a model, here: fit, then install the parameters."""
    for job in engine.refit_jobs(now_s):
        state = job.target.fit_on(job.history, job.end_s)
        if state is not None:
            job.target.install(state)
    engine.drop_cached_forecasts()


async def main(scaled_objects: int, step: int, history_h: float, fit: bool) -> None:
    profile = load_profile(PROFILE)
    clock = SystemClock()
    metrics = DecisionMetrics()
    registry = ScalerRegistry(
        ProfileBook({"default": profile}),
        lambda url: AnyModelSource(history_h * 3600),
        clock,
        max_tracked=scaled_objects,
        listeners=(metrics,),
        on_drop=(metrics.forget,),
        engine_for=lambda p: ModelEngine(p, inline_refits=False),
    )
    registry.start()  # refreshers back-fill and decide, as in the scaler
    gc.collect()
    base = rss_bytes()
    print(f"{'tracked':>8} {'RSS MiB':>8} {'KiB each':>9} {'s':>6}")
    print(f"{0:>8} {base / MIB:>8.1f} {'':>9} {0:>6}")
    started = time.perf_counter()
    for done in range(step, scaled_objects + 1, step):
        batch = [registry.track(target_for(i)) for i in range(done - step, done)]
        while any(t.decision is None for t in batch):  # back-filled and decided
            await asyncio.sleep(0.1)
        for tracked in batch if fit else ():
            await registry.on_decider(functools.partial(fit_inline, tracked.engine, clock.now_s()))
            await registry.refresh_once(tracked)
        gc.collect()
        report(done, rss_bytes(), base, started)
    peak = rss_bytes()
    for tracked in registry.all():  # as `_run` drops an idle one
        assert tracked.task is not None
        tracked.task.cancel()
        registry._tracked.pop(tracked.target, None)
        tracked.close()
        metrics.forget(tracked)
    del tracked, batch
    await asyncio.sleep(0.1)  # the cancelled refreshers finish
    gc.collect()
    after = rss_bytes()
    print(
        f"all dropped: {after / MIB:.1f} MiB (peak {peak / MIB:.1f} MiB, "
        f"{(peak - after) / MIB:.1f} MiB returned to the system)"
    )
    await registry.close()


async def front(scaled_objects: int, step: int) -> None:
    """The gRPC front process's RSS as KEDA opens two streams per ScaledObject."""
    registry = ScalerRegistry(
        ProfileBook({"default": load_profile(PROFILE)}),
        lambda url: AnyModelSource(0.0),
        SystemClock(),
        max_tracked=scaled_objects,
        backfill=False,
    )
    process = GrpcFrontProcess(registry)
    await process.start("127.0.0.1", 0, None)
    assert process.pid is not None
    await asyncio.sleep(1.0)  # its imports settle
    base = rss_bytes(process.pid)
    print(f"gRPC front process\n{'tracked':>8} {'RSS MiB':>8} {'KiB each':>9} {'s':>6}")
    print(f"{0:>8} {base / MIB:>8.1f} {'':>9} {0:>6}")
    started, streams = time.perf_counter(), []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{process.port}") as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        for done in range(step, scaled_objects + 1, step):
            for i in range(done - step, done):
                ref = target_ref(target_for(i))
                streams += [stub.StreamIsActive(ref), stub.StreamMetricSpec(ref)]
                await streams[-1].read()  # the spec comes at once: the call is in
            await process.synced()
            report(done, rss_bytes(process.pid), base, started)
        for stream in streams:
            stream.cancel()
    await process.stop(0)
    await registry.close()


def target_ref(target: ScalerTarget) -> pb.ScaledObjectRef:
    namespace, name = target.scaled_object.split("/", 1)
    return pb.ScaledObjectRef(
        name=name, namespace=namespace, scalerMetadata={"model": target.model}
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scaled-objects", type=int, default=2000)
    parser.add_argument("--step", type=int, default=250)
    parser.add_argument("--history-h", type=float, default=72.0)
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--front", action="store_true", help="measure the gRPC front process")
    args = parser.parse_args()
    if args.front:
        asyncio.run(front(args.scaled_objects, args.step))
    else:
        asyncio.run(main(args.scaled_objects, args.step, args.history_h, args.fit))
