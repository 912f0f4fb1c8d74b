"""The gRPC front process: its mirror of the decisions, and its life beside the scaler's.

What KEDA sees through the front is covered by test_grpc_scaler.py (every servicer test runs
against the front too); here: what the front and the scaler process tell each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator

import grpc
import pytest

from autoscaler.decision import Decision
from autoscaler.scaler.app import ScalerApp
from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.front_messages import Dropped, Profiles, Published, Refused, Seen
from autoscaler.scaler.grpc_front_process import GrpcFrontProcess
from autoscaler.scaler.metadata import MetadataError, parse_metadata
from autoscaler.scaler.mirror_board import MirrorBoard
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.profile_choice import ProfileChoice
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.scaler.tracking_limit import TooManyScaledObjects
from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc
from tests.fakes import FakeMetricSource, make_profile, prompt_for_replicas
from tests.scaler.scaler_helpers import make_registry, steady, target


def only_default() -> ProfileChoice:
    return ProfileBook({"default": make_profile()}).choice


def test_mirror_tells_the_back_at_first_sight_then_in_batches() -> None:
    told: list[Seen | Refused] = []
    board = MirrorBoard(only_default(), told.append)
    chat, batch = target(name="chat"), target(name="batch")
    board.track(chat)
    board.track(chat)
    board.track(batch)
    board.track(batch)
    assert told == [Seen((chat,)), Seen((batch,))]
    board.report_seen()
    assert len(told) == 3 and isinstance(told[2], Seen)
    assert set(told[2].targets) == {chat, batch}
    board.report_seen()  # nothing asked since: nothing to say
    assert len(told) == 3


def test_mirror_rejects_an_unknown_profile_until_a_reload_brings_it() -> None:
    board = MirrorBoard(only_default(), lambda message: None)
    wants_batch = parse_metadata("chat", "serving", {"model": "llama", "profile": "batch"})
    with pytest.raises(MetadataError, match="'profile'"):
        board.track(wants_batch)
    assert len(board) == 0
    board.receive(Profiles(ProfileBook({"batch": make_profile()}).choice))
    assert board.track(wants_batch).target == wants_batch


def test_a_reload_forgets_targets_left_without_a_profile() -> None:
    board = MirrorBoard(only_default(), lambda message: None)
    board.track(target())
    board.receive(Profiles(ProfileBook({"batch": make_profile()}).choice))
    assert len(board) == 0
    with pytest.raises(MetadataError, match="no profile for model 'llama'"):
        board.track(target())


async def test_mirror_publishes_wakes_waiters_and_forgets_dropped() -> None:
    board = MirrorBoard(only_default(), lambda message: None)
    cell = board.track(target())
    waiting = asyncio.ensure_future(cell.wait_change())
    await asyncio.sleep(0)
    board.receive(Published(target(), Decision(0.0, 3, "forecast"), "prometheus: timeout"))
    await asyncio.wait_for(waiting, timeout=1)
    assert cell.decision is not None and cell.decision.replicas == 3 and cell.active
    assert cell.last_error == "prometheus: timeout"
    waiting = asyncio.ensure_future(cell.wait_change())
    await asyncio.sleep(0)
    board.receive(Dropped(target()))
    assert len(board) == 0
    await asyncio.wait_for(waiting, timeout=1)  # its streams wake, and end
    assert cell.closed
    with pytest.raises(TypeError, match="unexpected message"):
        board.receive("hello")  # type: ignore[arg-type]


async def test_a_reload_closes_the_cells_it_forgets() -> None:
    board = MirrorBoard(only_default(), lambda message: None)
    cell = board.track(target())
    waiting = asyncio.ensure_future(cell.wait_change())
    await asyncio.sleep(0)
    board.receive(Profiles(ProfileBook({"batch": make_profile()}).choice))
    await asyncio.wait_for(waiting, timeout=1)
    assert cell.closed


def test_a_decision_for_a_target_the_profiles_reject_is_not_mirrored() -> None:
    board = MirrorBoard(only_default(), lambda message: None)
    wants_batch = parse_metadata("chat", "serving", {"model": "llama", "profile": "batch"})
    # Decided under profiles a reload has since replaced: KEDA must not be answered from it.
    board.receive(Published(wants_batch, Decision(0.0, 3, "forecast"), ""))
    assert len(board) == 0
    with pytest.raises(MetadataError, match="no profile named 'batch'"):
        board.track(wants_batch)


Front = tuple[GrpcFrontProcess, ScalerRegistry, pb_grpc.ExternalScalerStub]


@pytest.fixture
async def front() -> AsyncIterator[Front]:
    registry, _ = make_registry(FakeMetricSource())
    front = GrpcFrontProcess(registry)
    await front.start("127.0.0.1", 0, None)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{front.port}") as channel:
        yield front, registry, pb_grpc.ExternalScalerStub(channel)
    await front.stop(0)


def ref(**metadata: str) -> pb.ScaledObjectRef:
    return pb.ScaledObjectRef(name="chat", namespace="serving", scalerMetadata=metadata)


async def test_what_keda_asks_about_is_tracked_by_the_scaler(front: Front) -> None:
    process, registry, stub = front
    await stub.GetMetricSpec(ref(model="llama"), timeout=3)
    await process.synced()  # the front's Seen went up the same ordered pipe before Synced
    assert [t.target for t in registry.all()] == [target()]


async def test_a_profile_reload_reaches_the_front(front: Front) -> None:
    process, registry, stub = front
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMetricSpec(ref(model="llama", profile="batch"), timeout=3)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await registry.replace_profiles(ProfileBook({"batch": make_profile()}))
    await process.synced()
    spec = await stub.GetMetricSpec(ref(model="llama", profile="batch"), timeout=3)
    assert spec.metricSpecs[0].metricName == "prewarm-llama"


async def test_a_reload_under_way_is_what_keda_gets_for_a_new_scaled_object() -> None:
    source = FakeMetricSource()
    source.latest_by_model["big"] = steady(prompt_for_replicas(3), ready=3)
    registry, _ = make_registry(source)
    default = registry.profiles.profiles["default"]
    registry.profiles = ProfileBook({"default": default, "big": make_profile(model="big")})
    front = GrpcFrontProcess(registry)
    await front.start("127.0.0.1", 0, None)
    big = pb.GetMetricsRequest(scaledObjectRef=ref(model="big", profile="big"))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{front.port}") as channel:
            stub = pb_grpc.ExternalScalerStub(channel)
            # A reload without "big" waits for the busy decision thread; KEDA's first call
            # for a ScaledObject naming "big" lands meanwhile.
            gate = threading.Event()
            busy = asyncio.ensure_future(registry.on_decider(gate.wait))
            reload = asyncio.ensure_future(
                registry.replace_profiles(ProfileBook({"default": default}))
            )
            await asyncio.sleep(0.05)
            try:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await stub.GetMetricSpec(big.scaledObjectRef, timeout=3)
                await front.synced()  # its Seen, if any, has reached the scaler process
            finally:
                gate.set()
                await busy
                await reload
            for tracked in registry.all():
                await registry.refresh_once(tracked)
            await front.synced()
            assert registry.all() == []
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetMetrics(big, timeout=3)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "no profile named 'big'" in (caught.value.details() or "")
    finally:
        await front.stop(0)


async def test_stop_ends_the_front_process_cleanly(front: Front) -> None:
    process, _, _ = front
    await process.stop(0)
    assert process.exitcode == 0 and not process.serving and not process.lost.is_set()


async def test_a_port_in_use_is_an_error_naming_it() -> None:
    registry, _ = make_registry(FakeMetricSource())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            await GrpcFrontProcess(registry).start("127.0.0.1", port, None)


async def test_the_scaler_stops_with_an_error_when_its_front_dies() -> None:
    registry, _ = make_registry(FakeMetricSource())
    app = ScalerApp(registry, DecisionMetrics(), "127.0.0.1", 0, "127.0.0.1", 0, grpc_process=True)
    running = asyncio.create_task(app.run(asyncio.Event()))
    try:
        for _ in range(500):
            if app.ready():
                break
            await asyncio.sleep(0.02)
        front = app._grpc
        assert isinstance(front, GrpcFrontProcess) and front.pid is not None
        os.kill(front.pid, signal.SIGKILL)
        with pytest.raises(OSError, match="gRPC front process exited"):
            await asyncio.wait_for(running, timeout=30)
        assert not app.ready()
    finally:
        if not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def test_decisions_made_before_the_front_started_are_mirrored() -> None:
    source = FakeMetricSource()
    source.latest_by_model["llama"] = steady(prompt_for_replicas(4), ready=4)
    registry, _ = make_registry(source)
    await registry.refresh_once(registry.track(target()))
    front = GrpcFrontProcess(registry)
    await front.start("127.0.0.1", 0, None)
    try:
        await front.synced()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{front.port}") as channel:
            stub = pb_grpc.ExternalScalerStub(channel)
            request = pb.GetMetricsRequest(scaledObjectRef=ref(model="llama"))
            reply = await stub.GetMetrics(request, timeout=3)
        assert reply.metricValues[0].metricValue == 4
    finally:
        await front.stop(0)


async def test_the_front_stops_when_the_scaler_process_goes_silent() -> None:
    registry, _ = make_registry(FakeMetricSource())
    # A hung scaler process: its loop never gets to say it is alive.
    front = GrpcFrontProcess(registry, alive_every_s=3600.0, silence_limit_s=1.0)
    await front.start("127.0.0.1", 0, None)
    try:
        await asyncio.wait_for(front.lost.wait(), timeout=30)
        assert not front.serving
    finally:
        await front.stop(0)


async def test_a_live_scaler_process_keeps_its_front() -> None:
    registry, _ = make_registry(FakeMetricSource())
    front = GrpcFrontProcess(registry, alive_every_s=0.2, silence_limit_s=1.0)
    await front.start("127.0.0.1", 0, None)
    try:
        await asyncio.sleep(3.0)  # three silence limits, with nothing to say but "alive"
        assert front.serving and not front.lost.is_set()
        await front.synced()
    finally:
        await front.stop(0)
    assert front.exitcode == 0


def test_mirror_refuses_past_the_limit_and_tells_the_back_how_many() -> None:
    told: list[object] = []
    board = MirrorBoard(only_default(), told.append, max_scaled_objects=1)
    board.track(target(name="chat"))
    for _ in range(3):
        with pytest.raises(TooManyScaledObjects, match="'max_scaled_objects'"):
            board.track(target(name="flood"))
    assert len(board) == 1
    # The first refusal of a burst at once (the back counts it in its metrics), the rest
    # with the next report, so a flood of new names is not a flood of messages.
    assert told == [Seen((target(name="chat"),)), Refused(1)]
    board.report_seen()
    assert told[2:] == [Refused(2)]
    board.report_seen()
    assert len(told) == 3
    with pytest.raises(TooManyScaledObjects):
        board.track(target(name="later"))
    assert told[3:] == [Refused(1)]
    board.receive(Dropped(target(name="chat")))  # the back forgot it: room again
    board.track(target(name="later"))
    assert len(board) == 1
