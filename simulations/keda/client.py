"""KEDA's call pattern against an ExternalScaler, for integration tests and benchmarks.

- Polling loop (per ScaledObject, every `polling_s`, no deadline): GetMetricSpec, then
  GetMetrics for each spec, then IsActive; on an error of the pair, retry it once at once.
- HPA loop (every `hpa_sync_s`, 3 s deadline for the whole sequence): GetMetricSpec, then
  GetMetrics and IsActive.
- Push triggers: one long-lived StreamIsActive per ScaledObject.
Every unary call's latency and status is recorded so tests and benchmarks can assert on them,
and so is every stream's outcome: OK when it was held until the client stopped (or the server
ended it with OK), else the status it ended with, an error like a failed call's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc

from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc

HPA_DEADLINE_S = 3.0
STREAM = "StreamIsActive"


@dataclass
class CallLog:
    latencies_s: dict[str, list[float]] = field(default_factory=dict)
    codes: Counter[tuple[str, str]] = field(default_factory=Counter)
    values: list[tuple[float, str, float]] = field(default_factory=list)  # (t, so, replicas)
    pushes: list[tuple[float, str]] = field(default_factory=list)  # (t, so) of `true`
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (method, code, details)

    def record(self, method: str, started: float, error: grpc.aio.AioRpcError | None) -> None:
        self.latencies_s.setdefault(method, []).append(time.perf_counter() - started)
        code = "OK" if error is None else error.code().name
        self.codes[(method, code)] += 1
        if error is not None:
            self.errors.append((method, code, error.details() or ""))

    def record_stream(self, code: str, details: str = "") -> None:
        """A push stream's outcome: "OK", or the code it failed with (counted as an error)."""
        self.codes[(STREAM, code)] += 1
        if code != "OK":
            self.errors.append((STREAM, code, details))

    def error_count(self) -> int:
        """Failed unary calls and failed streams."""
        return sum(n for (_, code), n in self.codes.items() if code != "OK")

    def stream_count(self) -> tuple[int, int]:
        """(streams ended, of which failed)."""
        streams = [(code, n) for (method, code), n in self.codes.items() if method == STREAM]
        return sum(n for _, n in streams), sum(n for code, n in streams if code != "OK")

    def call_count(self) -> int:
        """Unary calls made, failed or not (streams are not calls here)."""
        return sum(n for (method, _), n in self.codes.items() if method != STREAM)

    def merge(self, other: CallLog) -> None:
        for method, samples in other.latencies_s.items():
            self.latencies_s.setdefault(method, []).extend(samples)
        self.codes.update(other.codes)
        self.values.extend(other.values)
        self.pushes.extend(other.pushes)
        self.errors.extend(other.errors)


class KedaLikeClient:
    def __init__(self, channel: grpc.aio.Channel, log: CallLog | None = None) -> None:
        self.stub = pb_grpc.ExternalScalerStub(channel)
        self.log = log or CallLog()

    async def _call(self, method: str, request: object, timeout: float | None) -> object:
        started = time.perf_counter()
        try:
            reply = await getattr(self.stub, method)(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            self.log.record(method, started, exc)
            raise
        self.log.record(method, started, None)
        return reply

    async def poll_once(self, ref: pb.ScaledObjectRef) -> float | None:
        """One polling-loop round; returns the replicas value or None after two failures."""
        try:
            specs = await self._call("GetMetricSpec", ref, None)
        except grpc.aio.AioRpcError:
            return None
        for attempt in range(2):  # KEDA rebuilds its client and retries the pair once
            try:
                value = await self._metrics_and_activity(ref, specs, None)  # type: ignore[arg-type]
                return value
            except grpc.aio.AioRpcError:
                if attempt == 1:
                    return None
        return None

    async def hpa_once(self, ref: pb.ScaledObjectRef) -> float | None:
        """One HPA sync: the whole sequence under a 3 s deadline."""
        deadline = time.perf_counter() + HPA_DEADLINE_S

        def left() -> float:
            return max(0.001, deadline - time.perf_counter())

        try:
            specs = await self._call("GetMetricSpec", ref, left())
            return await self._metrics_and_activity(ref, specs, left)  # type: ignore[arg-type]
        except grpc.aio.AioRpcError:
            return None

    async def _metrics_and_activity(self, ref, specs, left) -> float:  # type: ignore[no-untyped-def]
        total = 0.0
        for spec in specs.metricSpecs:
            request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=spec.metricName)
            reply = await self._call("GetMetrics", request, left() if left else None)
            for value in reply.metricValues:  # type: ignore[attr-defined]
                total += value.metricValueFloat if value.metricValueFloat > 0 else value.metricValue
        await self._call("IsActive", ref, left() if left else None)
        self.log.values.append((time.time(), f"{ref.namespace}/{ref.name}", total))
        return total

    async def polling_loop(
        self, ref: pb.ScaledObjectRef, every_s: float, stop: asyncio.Event
    ) -> None:
        while not stop.is_set():
            await self.poll_once(ref)
            await _sleep_or_stop(every_s, stop)

    async def hpa_loop(self, ref: pb.ScaledObjectRef, every_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.hpa_once(ref)
            await _sleep_or_stop(every_s, stop)

    async def push_stream(self, ref: pb.ScaledObjectRef, stop: asyncio.Event) -> None:
        """Holds a StreamIsActive open, reconnecting after 2 s like KEDA, until `stop`.

        Each stream's outcome goes into the log (`CallLog.record_stream`): one that cannot
        be opened or ends with a non-OK status is an error, whatever the code (a CANCELLED
        the server sent too); only the cancellation at `stop` is the client's own."""
        while not stop.is_set():
            call = self.stub.StreamIsActive(ref)
            reader = asyncio.ensure_future(self._read_stream(ref, call))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if reader.done():
                self._record_stream_end(reader)
            else:  # held until we stopped: cancelling it is ours, not the server's failure
                call.cancel()
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                    await reader
                self.log.record_stream("OK")
            await _sleep_or_stop(2.0, stop)

    def _record_stream_end(self, reader: asyncio.Future[None]) -> None:
        """A stream that ended before the client stopped: OK, or the error it ended with."""
        error = None if reader.cancelled() else reader.exception()
        if reader.cancelled():
            self.log.record_stream("CANCELLED", "the stream's reader was cancelled")
        elif error is None:
            self.log.record_stream("OK")  # the server ended it with OK
        elif isinstance(error, grpc.aio.AioRpcError):
            self.log.record_stream(error.code().name, error.details() or "")
        else:  # not a status: the stream could not be opened or read at all
            self.log.record_stream(type(error).__name__, str(error))

    async def _read_stream(self, ref: pb.ScaledObjectRef, call) -> None:  # type: ignore[no-untyped-def]
        so = f"{ref.namespace}/{ref.name}"
        async for message in call:
            if message.result:
                self.log.pushes.append((time.time(), so))


async def _sleep_or_stop(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def percentile_ms(samples: list[float], q: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    index = min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))
    return ordered[index] * 1000
