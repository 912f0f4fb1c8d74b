"""The load benchmark's control: an ExternalScaler that answers constants at once.

No metadata parsing, registry or decisions: what is left of a call's latency is grpc.aio (on
uvloop, as `prewarm serve` runs it), the load generator and the machine.
`scaler_load.py --floor` runs the same KEDA side against it, so its p99 says how much of the
real scaler's p99 is the framework's and the machine's.

    .venv/bin/python benchmarks/floor_scaler.py GRPC_PORT
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator

import grpc

from autoscaler.scaler.latency_tuning import run_serving_loop, tune_for_latency
from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc

REPLICAS = 2


class ConstantScaler(pb_grpc.ExternalScalerServicer):
    async def GetMetricSpec(  # noqa: N802 (the proto names the method)
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> pb.GetMetricSpecResponse:
        spec = pb.MetricSpec(metricName="desired-replicas", targetSize=1, targetSizeFloat=1.0)
        return pb.GetMetricSpecResponse(metricSpecs=[spec])

    async def GetMetrics(  # noqa: N802
        self, request: pb.GetMetricsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMetricsResponse:
        value = pb.MetricValue(
            metricName=request.metricName, metricValue=REPLICAS, metricValueFloat=REPLICAS
        )
        return pb.GetMetricsResponse(metricValues=[value])

    async def IsActive(  # noqa: N802
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> pb.IsActiveResponse:
        return pb.IsActiveResponse(result=True)

    async def StreamIsActive(  # noqa: N802
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.IsActiveResponse]:
        yield pb.IsActiveResponse(result=True)
        await asyncio.Event().wait()  # held open, as the scaler holds its streams


async def main(grpc_port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_ExternalScalerServicer_to_server(ConstantScaler(), server)
    server.add_insecure_port(f"127.0.0.1:{grpc_port}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tune_for_latency(inline_refits=False)
    await server.start()
    await stop.wait()
    await server.stop(grace=1.0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grpc_port", type=int)
    run_serving_loop(main(parser.parse_args().grpc_port))
