"""KEDA's call pattern against an ExternalScaler, for integration tests and benchmarks.

- Polling loop (per ScaledObject, every `polling_s`, no deadline): GetMetricSpec, then
  GetMetrics for each spec, then IsActive; on an error of the pair, retry it once at once.
- HPA loop (every `hpa_sync_s`, 3 s deadline for the whole sequence): GetMetricSpec, then
  GetMetrics and IsActive.
- Push triggers: one long-lived StreamIsActive per ScaledObject.
Every call's latency and status is recorded so tests and benchmarks can assert on them.
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

    def error_count(self) -> int:
        return sum(n for (_, code), n in self.codes.items() if code != "OK")


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
        """Holds a StreamIsActive open, reconnecting after 2 s like KEDA, until `stop`."""
        while not stop.is_set():
            call = self.stub.StreamIsActive(ref)
            reader = asyncio.ensure_future(self._read_stream(ref, call))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            call.cancel()
            stopper.cancel()
            reader.cancel()
            await _sleep_or_stop(2.0, stop)

    async def _read_stream(self, ref: pb.ScaledObjectRef, call) -> None:  # type: ignore[no-untyped-def]
        so = f"{ref.namespace}/{ref.name}"
        try:
            async for message in call:
                if message.result:
                    self.log.pushes.append((time.time(), so))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                self.log.errors.append(("StreamIsActive", exc.code().name, exc.details() or ""))


async def _sleep_or_stop(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def percentile_ms(samples: list[float], q: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    index = min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))
    return ordered[index] * 1000
