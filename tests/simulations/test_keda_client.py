"""The KEDA-like client counts failed push streams as errors, over real gRPC on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable

import grpc
import pytest

from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc
from simulations.keda.client import STREAM, CallLog, KedaLikeClient
from tests.deploy.manifests import missing

REF = pb.ScaledObjectRef(name="so", namespace="test", scalerMetadata={"model": "m"})


class StreamingScaler(pb_grpc.ExternalScalerServicer):
    """Pushes `true` once, then holds the stream open or (with `abort_with`) fails it."""

    def __init__(self, abort_with: grpc.StatusCode | None = None) -> None:
        self.abort_with = abort_with
        self.opened = 0

    async def StreamIsActive(  # noqa: N802 (the proto names the method)
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.IsActiveResponse]:
        self.opened += 1
        yield pb.IsActiveResponse(result=True)
        if self.abort_with is not None:
            await context.abort(self.abort_with, "the scaler is going away")
        await asyncio.Event().wait()


async def start(servicer: StreamingScaler) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    pb_grpc.add_ExternalScalerServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def hold_stream(port: int, log: CallLog, stop: asyncio.Event) -> asyncio.Task[None]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")

    async def run() -> None:
        async with channel:
            await KedaLikeClient(channel, log).push_stream(REF, stop)

    return asyncio.create_task(run())


async def test_a_stream_held_until_the_client_stops_is_ok() -> None:
    server, port = await start(StreamingScaler())
    log, stop = CallLog(), asyncio.Event()
    try:
        streaming = await hold_stream(port, log, stop)
        await until(lambda: bool(log.pushes), 10, "the first push")
        stop.set()
        await asyncio.wait_for(streaming, 10)
    finally:
        await server.stop(0)
    assert log.codes == {(STREAM, "OK"): 1}
    assert log.error_count() == 0 and log.errors == []
    assert log.stream_count() == (1, 0)
    assert log.call_count() == 0  # a stream is not a unary call


async def test_a_stream_the_server_aborts_with_unavailable_is_an_error() -> None:
    server, port = await start(StreamingScaler(abort_with=grpc.StatusCode.UNAVAILABLE))
    log, stop = CallLog(), asyncio.Event()
    try:
        streaming = await hold_stream(port, log, stop)
        await until(lambda: log.error_count() >= 1, 10, "the aborted stream's error")
        stop.set()
        await asyncio.wait_for(streaming, 10)
    finally:
        await server.stop(0)
    assert log.codes[(STREAM, "UNAVAILABLE")] == 1
    assert log.errors == [(STREAM, "UNAVAILABLE", "the scaler is going away")]
    assert log.stream_count() == (1, 1)


async def test_a_stream_whose_server_goes_away_is_an_error() -> None:
    servicer = StreamingScaler()
    server, port = await start(servicer)
    log, stop = CallLog(), asyncio.Event()
    try:
        streaming = await hold_stream(port, log, stop)
        await until(lambda: bool(log.pushes), 10, "the first push")
        await server.stop(0)  # the scaler dies with the stream open
        await until(lambda: log.error_count() >= 1, 10, "the broken stream's error")
        stop.set()
        await asyncio.wait_for(streaming, 10)
    finally:
        await server.stop(0)
    failed = [code for (method, code), n in log.codes.items() if method == STREAM and code != "OK"]
    assert failed, log.codes
    assert log.errors and all(method == STREAM for method, _, _ in log.errors)


async def test_a_stream_that_cannot_be_opened_is_an_error() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log, stop = CallLog(), asyncio.Event()
    streaming = await hold_stream(port, log, stop)
    await until(lambda: log.error_count() >= 1, 10, "the refused stream's error")
    stop.set()
    await asyncio.wait_for(streaming, 10)
    assert log.codes[(STREAM, "UNAVAILABLE")] >= 1
    assert log.stream_count()[1] == log.error_count() >= 1


def test_the_go_clients_failed_streams_are_errors_too() -> None:
    from benchmarks.keda_go_client import call_log_from_json

    log = call_log_from_json(
        {
            "latencies_s": {"GetMetrics": [0.001]},
            "codes": [
                ["GetMetrics", "OK", 1],
                ["StreamIsActive", "OK", 2],
                ["StreamIsActive", "Unavailable", 1],
            ],
            "errors": [["StreamIsActive", "Unavailable", "the scaler is going away"]],
        }
    )
    assert log.error_count() == 1
    assert log.stream_count() == (3, 1)
    assert log.call_count() == 1


async def test_the_go_client_counts_a_stream_the_server_aborts() -> None:
    """`keda-go play` itself, when built (`make keda-go`), against a server failing streams."""
    from benchmarks.keda_go_client import BINARY, SOURCE, play_keda_in_go

    if not BINARY.exists() or BINARY.stat().st_mtime < SOURCE.stat().st_mtime:
        missing("out/keda-go is not built from the current source (make keda-go)")
    server, port = await start(StreamingScaler(abort_with=grpc.StatusCode.UNAVAILABLE))
    try:  # streams only: the loops run for 0 s
        log = await play_keda_in_go(BINARY, port, 0, 1, 0.0, 0, True, 1.5)
    finally:
        await server.stop(0)
    assert log.codes[(STREAM, "Unavailable")] == 1
    assert log.error_count() == 1 and log.stream_count() == (1, 1)
    assert log.errors == [(STREAM, "Unavailable", "the scaler is going away")]
