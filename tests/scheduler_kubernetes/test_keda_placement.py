"""From KEDA's gRPC call to the written plan, with no test code between the scaler and the loop:
a KEDA-like client (simulations/keda's stubs) asks the real ExternalScaler over loopback, the
registry's refresher decides, its listener (the DecisionBoard `prewarm serve` wires) pokes
the placement loop, and the next reconcile writes the claim templates and ConfigMaps the
independent checker finds valid. Load rises; KEDA's next poll reads the scale-up, and the
next turn places it. Time moves only when the test moves the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from autoscaler.clock import ManualClock
from autoscaler.observation import Observation
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.scaler.server import start_grpc
from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc
from prewarm_cli.placement import DecisionBoard
from scheduler.controller.diff import plan_index
from tests.fakes import FakeMetricSource, make_profile, prompt_for_replicas
from tests.kube_api_server import ApiServer, serve_api
from tests.kube_api_server import resources as served
from tests.scheduler.plan_check import check_plan
from tests.scheduler_kubernetes.live_api import RecordingSleep, running, wait_until
from tests.scheduler_kubernetes.placement_cluster import (
    LLAMA_8B,
    LLAMA_70B,
    NS,
    START_S,
    config,
    demand_of,
    make_replica,
    referenced_templates,
    seed,
    stored,
    written_plan,
)

INTERVAL_S = 15.0
SCALED = {LLAMA_8B: "llama-8b", LLAMA_70B: "llama-70b"}


def load(replicas: int, ready: int) -> Observation:
    """vLLM's load, as the fake source hands it to the scaler: exactly `replicas`' worth."""
    return Observation(START_S, prompt_for_replicas(replicas), 0.0, 4.0, 0.0, 0.3, ready)


def ref(model: str) -> pb.ScaledObjectRef:
    return pb.ScaledObjectRef(name=SCALED[model], namespace=NS, scalerMetadata={"model": model})


async def keda_poll(stub: pb_grpc.ExternalScalerStub, model: str) -> float:
    """KEDA's polling pair: GetMetricSpec, then GetMetrics (retried as KEDA retries while the
    first decision is being made: UNAVAILABLE)."""
    spec = (await stub.GetMetricSpec(ref(model), timeout=3)).metricSpecs[0]
    request = pb.GetMetricsRequest(scaledObjectRef=ref(model), metricName=spec.metricName)
    for _ in range(100):
        try:
            return (await stub.GetMetrics(request, timeout=3)).metricValues[0].metricValueFloat
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.05)
    raise AssertionError(f"no decision for {model}")


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    async with serve_api() as api_server:
        seed(api_server)
        yield api_server


async def test_a_keda_poll_over_grpc_reaches_the_loop_and_the_written_configmaps(
    server: ApiServer,
) -> None:
    cfg = config()
    clock = ManualClock(START_S)
    source = FakeMetricSource()
    source.latest_by_model[LLAMA_8B] = load(1, ready=1)
    source.latest_by_model[LLAMA_70B] = load(1, ready=1)
    board = DecisionBoard()
    profile = make_profile(replicas={"min": 0, "max": 64}, decision_interval_s=INTERVAL_S)
    registry = ScalerRegistry(
        ProfileBook({"default": profile}),
        lambda url: source,
        clock,
        backfill=False,
        listeners=(board,),
        on_drop=(board.forget,),
    )
    registry.start()
    scaler = await start_grpc(registry, "127.0.0.1", 0)
    pokes: list[int] = []
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{scaler.port}") as channel,
            server.client() as api,
        ):
            stub = pb_grpc.ExternalScalerStub(channel)
            r = make_replica(api, "prewarm-0", clock, cfg, board.decisions, [], RecordingSleep())

            def poke() -> None:
                pokes.append(1)
                r.loop.poke()

            board.on_change = poke
            async with running(r.watch.run()):
                await wait_until(r.watch.synced, "the informers listed")
                assert await r.elector.step()

                # KEDA's first polls: the scaler starts tracking, decides, and the board has it.
                assert await keda_poll(stub, LLAMA_8B) == 1.0
                assert await keda_poll(stub, LLAMA_70B) == 1.0
                assert set(board.decisions()) == {LLAMA_8B, LLAMA_70B} and pokes
                first = await r.loop.turn()
                assert first.outcome == "written", first.error
                assert not first.result.plan.unplaced  # type: ignore[union-attr]

                # The 8B's load triples; the refresher's next decision, after its interval,
                # reaches KEDA and the loop alike.
                await clock.sleeping(2)  # both refreshers parked until their next refresh
                source.latest_by_model[LLAMA_8B] = load(3, ready=1)
                seen = len(pokes)
                clock.advance(2 * INTERVAL_S)
                await wait_until(
                    lambda: board.decisions()[LLAMA_8B].scale.to_place == 3,
                    "the scale-up reached the board",
                )
                assert len(pokes) > seen
                assert await keda_poll(stub, LLAMA_8B) == 3.0
                assert await r.elector.step()
                rise = await r.loop.turn()
                assert rise.outcome == "written", rise.error
                changes = {c.model: c for c in rise.result.changes}  # type: ignore[union-attr]
                assert (changes[LLAMA_8B].kept, len(changes[LLAMA_8B].added)) == (1, 2)
                inventory = r.inventory([])
    finally:
        await scaler.stop(0)
        await registry.close()

    # What is written is the plan of what KEDA was told, and the checker finds it valid.
    scales = {m: d.scale for m, d in board.decisions().items()}
    found = written_plan(server)
    check_plan(found.plan, inventory, demand_of(cfg.controller_settings(), scales))
    assert plan_index(found.plan) == plan_index(rise.result.plan)  # type: ignore[union-attr]
    replicas: dict[str, set[str]] = {}
    for a in found.plan.assignments:
        replicas.setdefault(a.model, set()).add(a.replica)
    for model, scale in scales.items():  # max(now, forecast at the horizon), each model
        assert replicas[model] == {f"{model}-{i}" for i in range(scale.to_place)}
    assert len(replicas[LLAMA_8B]) == 3
    templates = {t["metadata"]["name"] for t in stored(server, served.RESOURCE_CLAIM_TEMPLATES)}
    assert referenced_templates(server) == templates
