"""KEDA's ExternalScaler service, answered from the latest published decisions.

No handler awaits Prometheus or a forecast: they parse metadata, look up the tracked
ScaledObject and read its last published decision. The metric is "desired replicas" with a
fixed target of 1, so the HPA's AverageValue arithmetic (ceil(value / target)) yields
exactly the replicas decided. That spec depends on the ScaledObject's model alone, so
`GetMetricSpec` and `StreamMetricSpec` build it in one place and can never disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from typing import Protocol

import grpc

from autoscaler.decision import Decision
from autoscaler.scaler.decision_cell import DecisionCell
from autoscaler.scaler.error_text import bounded
from autoscaler.scaler.metadata import MetadataError, ScalerTarget, parse_metadata
from autoscaler.scaler.tracking_limit import TooManyScaledObjects
from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc

TARGET_PER_REPLICA = 1.0
# How long a call about a brand-new ScaledObject waits for its first decision to be published.
FIRST_DECISION_WAIT_S = 0.5


class DecisionBoard(Protocol):
    """Where handlers find a ScaledObject's decision: the registry itself, or the gRPC front
    process's mirror of it."""

    def track(self, target: ScalerTarget) -> DecisionCell:
        """The target's cell, tracked from now on; MetadataError when no profile fits,
        TooManyScaledObjects when it is new and the board is full."""
        ...


class ExternalScalerServicer(pb_grpc.ExternalScalerServicer):
    def __init__(self, board: DecisionBoard) -> None:
        self.board = board

    async def GetMetricSpec(  # noqa: N802 (the proto names the method)
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> pb.GetMetricSpecResponse:
        target = await _target(request, context)
        await _track(self.board, target, context)
        return metric_spec(target)

    async def StreamMetricSpec(  # noqa: N802
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GetMetricSpecResponse]:
        """KEDA 2.21's pushed specs: the current spec at once, as KEDA's contract asks.

        The spec never changes while the ScaledObject is tracked (target 1 per replica, the
        metric named after the model), so nothing follows it: the stream stays open and ends,
        like `StreamIsActive`, when the ScaledObject is dropped. KEDA then reopens it, and a
        ScaledObject whose profile is gone gets INVALID_ARGUMENT, as from `GetMetricSpec`.
        """
        target = await _target(request, context)
        tracked = await _track(self.board, target, context)
        yield metric_spec(target)
        while not tracked.closed:
            await tracked.wait_change()

    async def GetMetrics(  # noqa: N802
        self, request: pb.GetMetricsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMetricsResponse:
        target = await _target(request.scaledObjectRef, context)
        tracked = await _track(self.board, target, context)
        decision = await _valid_decision(tracked, context)
        replicas = float(decision.replicas)
        value = pb.MetricValue(
            metricName=request.metricName or target.metric_name,
            metricValue=math.ceil(replicas),
            metricValueFloat=replicas,
        )
        return pb.GetMetricsResponse(metricValues=[value])

    async def IsActive(  # noqa: N802
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> pb.IsActiveResponse:
        target = await _target(request, context)
        tracked = await _track(self.board, target, context)
        await _valid_decision(tracked, context)
        return pb.IsActiveResponse(result=tracked.active)

    async def StreamIsActive(  # noqa: N802
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.IsActiveResponse]:
        """Pushes `true` whenever the model becomes active (KEDA ignores `false`).

        Ends when the ScaledObject is dropped (idle, or its profile gone): a re-tracked one is
        a new cell this stream would never hear from. KEDA opens a new stream after its retry
        delay, and that one looks the ScaledObject up afresh.
        """
        target = await _target(request, context)
        tracked = await _track(self.board, target, context)
        was_active = False
        while not tracked.closed:
            if tracked.active and not was_active:
                yield pb.IsActiveResponse(result=True)
            was_active = tracked.active
            await tracked.wait_change()


def metric_spec(target: ScalerTarget) -> pb.GetMetricSpecResponse:
    """The one spec of a ScaledObject: its metric, target 1 replica per replica."""
    spec = pb.MetricSpec(
        metricName=target.metric_name,
        targetSize=int(TARGET_PER_REPLICA),
        targetSizeFloat=TARGET_PER_REPLICA,
    )
    return pb.GetMetricSpecResponse(metricSpecs=[spec])


async def _target(ref: pb.ScaledObjectRef, context: grpc.aio.ServicerContext) -> ScalerTarget:
    try:
        return parse_metadata(ref.name, ref.namespace, dict(ref.scalerMetadata))
    except MetadataError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise  # abort raises; this keeps type checkers sure we never fall through


async def _track(
    board: DecisionBoard, target: ScalerTarget, context: grpc.aio.ServicerContext
) -> DecisionCell:
    try:
        return board.track(target)
    except MetadataError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise
    except TooManyScaledObjects as exc:
        # The server's resource, not the request's fault: KEDA logs it and retries later.
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        raise


async def _valid_decision(tracked: DecisionCell, context: grpc.aio.ServicerContext) -> Decision:
    if tracked.decision is None and not tracked.closed:
        # A ScaledObject first asked about now: a senior replica's decision (peers), or the
        # gRPC front's news from the main process, arrives within milliseconds. A first
        # refresh that needs a back-fill takes longer, and that still answers UNAVAILABLE.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tracked.wait_change(), FIRST_DECISION_WAIT_S)
    decision = tracked.decision
    if decision is None:
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"{tracked.target.scaled_object}: no decision yet (first refresh in progress)",
        )
        raise AssertionError("unreachable")
    if not decision.valid:
        # Past the staleness bound: an error lets KEDA's fallback take over.
        # Bounded: a status message past gRPC's 16 kB trailer limit never reaches KEDA.
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            bounded(
                f"{tracked.target.scaled_object}: {decision.reason}"
                + (f"; source: {tracked.last_error}" if tracked.last_error else "")
            ),
        )
        raise AssertionError("unreachable")
    return decision
