"""The placement controller, closed: over real HTTP against the in-process API server, a
KEDA-like scale-up reaches the loop through the scaler's decisions, the next reconcile writes
the claim templates and ConfigMaps, the independent checker finds the written plan valid, and
the webhook (watching those ConfigMaps) admits the new pod with them. No manual step, and time
only moves when the test moves the clock."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from autoscaler.clock import ManualClock
from autoscaler.observation import Observation
from prewarm_cli.placement import DecisionBoard
from scheduler.controller.diff import plan_index
from scheduler.kubernetes.configmap_plan_store import ConfigMapPlanStore
from scheduler.kubernetes.dcgm_feed import DcgmFeed
from scheduler.kubernetes.manifests import render_manifests
from scheduler.kubernetes.serve_webhook import WebhookServer
from tests.kube_api_server import ApiServer, serve_api
from tests.kube_api_server import resources as served
from tests.scheduler.plan_check import check_plan
from tests.scheduler_kubernetes.live_api import RecordingSleep, running, wait_until
from tests.scheduler_kubernetes.placement_cluster import (
    LEASE_S,
    LLAMA_8B,
    LLAMA_70B,
    LLAMA_405B,
    NS,
    START_S,
    config,
    decision,
    demand_of,
    make_replica,
    p5,
    provisioned_node,
    referenced_templates,
    seed,
    stored,
    tracked,
    writes,
    written_plan,
)
from tests.scheduler_kubernetes.pods import pod, review
from tests.scheduler_kubernetes.test_webhook_http import free_port


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    async with serve_api() as api_server:
        seed(api_server)
        yield api_server


def events_of(server: ApiServer, reason: str) -> list[dict[str, Any]]:
    return [e for e in stored(server, served.EVENTS) if e["reason"] == reason]


async def admit(url: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url) as client:
        reply = (await client.post("/mutate", json=review(obj))).json()["response"]
    assert reply["allowed"] is True
    return list(json.loads(base64.b64decode(reply["patch"]))) if "patch" in reply else []


async def test_a_scale_up_is_placed_written_checked_and_admitted_with_no_manual_step(
    server: ApiServer,
) -> None:
    cfg = config()
    clock = ManualClock(START_S)
    instance_types = [p5("us-east-1a", 4), p5("us-east-1b", 4)]
    board = DecisionBoard()
    async with server.client() as api:
        r = make_replica(
            api, "prewarm-0", clock, cfg, board.decisions, instance_types, RecordingSleep()
        )
        board.on_change = lambda: (r.pokes.append(1), r.loop.poke())[-1]  # type: ignore[func-returns-value]
        # What KEDA has asked so far: one replica of each of the two small models.
        board(tracked(LLAMA_8B, f"{NS}/llama-8b"), decision(1, 1))
        board(tracked(LLAMA_70B, f"{NS}/llama-70b"), decision(1, 1))
        board(tracked(LLAMA_405B, f"{NS}/llama-405b"), decision(0, 0))
        async with running(r.watch.run()):
            await wait_until(r.watch.synced, "the informers listed")
            assert await r.elector.step()
            first = await r.loop.turn()
            assert first.outcome == "written", first.error
            assert not first.result.plan.unplaced  # type: ignore[union-attr]

            # KEDA's poll: the forecast wants 3 slices of the 8B at the horizon (1 now), the
            # 70B 2 GPUs now, and one 2-node 405B replica. Publishing it pokes the loop.
            pokes = len(r.pokes)
            board(tracked(LLAMA_8B, f"{NS}/llama-8b"), decision(1, 3, START_S + 30))
            board(tracked(LLAMA_70B, f"{NS}/llama-70b"), decision(2, 2, START_S + 30))
            board(tracked(LLAMA_405B, f"{NS}/llama-405b"), decision(1, 1, START_S + 30))
            board(tracked(LLAMA_405B, f"{NS}/llama-405b"), decision(1, 1, START_S + 45))
            assert len(r.pokes) == pokes + 3  # a repeated decision is no news
            clock.advance(30.0)
            assert await r.elector.step()  # renewed every retry period; once is enough here
            rise = await r.loop.turn()
            assert rise.outcome == "written", rise.error
            changes = {c.model: c for c in rise.result.changes}  # type: ignore[union-attr]
            assert (changes[LLAMA_8B].kept, len(changes[LLAMA_8B].added)) == (1, 2)
            assert (changes[LLAMA_70B].kept, len(changes[LLAMA_70B].added)) == (1, 1)
            assert len(changes[LLAMA_405B].added) == 1
            inventory = r.inventory(instance_types)

        # The cluster now holds a plan the independent checker finds valid...
        scales = {m: d.scale for m, d in board.decisions().items()}
        demand = demand_of(cfg.controller_settings(), scales)
        found = written_plan(server)
        check_plan(found.plan, inventory, demand)
        assert plan_index(found.plan) == plan_index(rise.result.plan)  # type: ignore[union-attr]
        # ...every template a ConfigMap names exists, as rendered, and none is left over.
        templates = {
            t["metadata"]["name"]: t for t in stored(server, served.RESOURCE_CLAIM_TEMPLATES)
        }
        assert referenced_templates(server) == set(templates)
        for obj in render_manifests(found.plan, namespace=NS):
            if obj["kind"] == "ResourceClaimTemplate":
                assert templates[obj["metadata"]["name"]]["spec"] == obj["spec"]
        # Events on the ScaledObjects say what changed.
        (placed_8b,) = [
            e for e in events_of(server, "Placed") if e["involvedObject"]["name"] == "llama-8b"
        ]
        assert placed_8b["involvedObject"]["kind"] == "ScaledObject"
        assert placed_8b["message"].startswith(
            f"placed 3 (kept 1; added 2: {LLAMA_8B}-1, {LLAMA_8B}-2); plan: 21 GPU(s), "
            "lower bound 21, gap 0"
        )
        assert (
            f"{LLAMA_8B}: places 3 = max(1 now, 3 forecast at the horizon)"
            in (placed_8b["message"])
        )
        assert (
            r.metrics.registry.get_sample_value("prewarm_placement_replicas", {"model": LLAMA_8B})
            == 3
        )
        assert r.metrics.registry.get_sample_value("prewarm_placement_gap_gpus") == 0

        # The webhook, watching the ConfigMaps, admits the third 8B pod with its claim.
        store = ConfigMapPlanStore(server.client, NS, sleep=RecordingSleep())
        port = free_port()
        stop = asyncio.Event()
        hook = asyncio.create_task(
            WebhookServer(None, None, None, "127.0.0.1", port, 0.05, store).run(stop)
        )
        try:
            await wait_until(
                lambda: store.current is not None and len(store.current.placements) == 3,
                "the webhook read the three ConfigMaps",
            )
            url = f"http://127.0.0.1:{port}"
            for _ in range(200):  # uvicorn binds a moment after the task starts
                try:
                    patch = await admit(
                        url, pod(LLAMA_8B, labels={"apps.kubernetes.io/pod-index": "2"})
                    )
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.02)
            claim = next(op["value"] for op in patch if op["path"] == "/spec/resourceClaims")
            assert claim[0]["resourceClaimTemplateName"] in templates
            annotations = next(op["value"] for op in patch if op["path"] == "/metadata/annotations")
            assert annotations == {"prewarm.dev/replica": f"{LLAMA_8B}-2"}
        finally:
            stop.set()
            await hook


async def test_the_leader_dies_and_the_other_takes_over_within_the_lease_writing_nothing_twice(
    server: ApiServer,
) -> None:
    cfg = config()
    clock = ManualClock(START_S)
    instance_types = [p5("us-east-1a", 4), p5("us-east-1b", 4)]
    board = DecisionBoard()  # both replicas answer the same decisions (peers/ agree on them)
    board(tracked(LLAMA_8B, f"{NS}/llama-8b"), decision(1, 1))
    board(tracked(LLAMA_70B, f"{NS}/llama-70b"), decision(1, 1))
    board(tracked(LLAMA_405B, f"{NS}/llama-405b"), decision(0, 0))
    sleep = RecordingSleep()
    async with server.client() as api_a, server.client() as api_b:
        a = make_replica(api_a, "prewarm-0", clock, cfg, board.decisions, instance_types, sleep)
        b = make_replica(api_b, "prewarm-1", clock, cfg, board.decisions, instance_types, sleep)
        async with running(b.watch.run()):
            watch_a = asyncio.create_task(a.watch.run())
            await wait_until(lambda: a.watch.synced() and b.watch.synced(), "both listed")
            last_renewal_s = 0.0
            took_over_s = None
            outcomes: dict[str, list[tuple[float, str]]] = {"a": [], "b": []}
            written_by_a: list[str] = []
            # One step and turn of each per second, b half a second behind a. At 5 s KEDA
            # scales up; a dies at 20 s (stops renewing, no release: a killed pod).
            for tick in range(90):
                t = tick * 0.5
                clock.set(START_S + t)
                if t == 5.0:
                    board(tracked(LLAMA_8B, f"{NS}/llama-8b"), decision(1, 3, clock.now_s()))
                    board(tracked(LLAMA_405B, f"{NS}/llama-405b"), decision(1, 1, clock.now_s()))
                if tick % 2 == 0 and t <= 20:
                    await a.elector.step()
                    last_renewal_s = t
                    outcomes["a"].append((t, (await a.loop.turn()).outcome))
                    if t == 20:
                        written_by_a = writes(server)
                        watch_a.cancel()
                elif tick % 2 == 1:
                    if await b.elector.step() and took_over_s is None:
                        took_over_s = t
                    outcomes["b"].append((t, (await b.loop.turn()).outcome))
                assert not (a.elector.is_leader() and b.elector.is_leader()), f"two at {t} s"
            assert a.loop.plan is not None
            a_plan = plan_index(a.loop.plan)

            # a, back from the dead (a paused process), still believes nothing: it turns
            # before it steps and finds it no longer leads.
            assert (await a.loop.turn()).outcome == "follower"

    assert {o for _, o in outcomes["a"]} == {"written", "unchanged"}
    assert took_over_s is not None
    assert LEASE_S <= took_over_s - last_renewal_s <= LEASE_S + 1.0
    # b followed until it took over; its first turn as leader read a's plan back from the
    # ConfigMaps (with the 405B still waiting for nodes, the 8B pods not created) and found
    # nothing to write: not one write since a died.
    assert all(o == "follower" for t, o in outcomes["b"] if t < took_over_s)
    assert [o for t, o in outcomes["b"] if t >= took_over_s] == ["unchanged"] * len(
        [t for t, _ in outcomes["b"] if t >= took_over_s]
    )
    assert writes(server) == written_by_a
    assert b.loop.plan is not None and plan_index(b.loop.plan) == a_plan
    holder = server.store.get(served.LEASES, NS, cfg.lease.name)["spec"]["holderIdentity"]
    assert holder == "prewarm-1"


async def test_a_zone_goes_short_mid_run_and_a_new_multinode_replica_falls_back_with_the_reason(
    server: ApiServer,
) -> None:
    cfg = config()
    clock = ManualClock(START_S)
    instance_types = [p5("us-east-1a", 4), p5("us-east-1b", 4)]
    board = DecisionBoard()
    board(tracked(LLAMA_405B, f"{NS}/llama-405b"), decision(1, 1))
    async with server.client() as api:
        r = make_replica(
            api, "prewarm-0", clock, cfg, board.decisions, instance_types, RecordingSleep()
        )
        async with running(r.watch.run()):
            await wait_until(r.watch.synced, "the informers listed")
            assert await r.elector.step()
            first = await r.loop.turn()
            assert first.outcome == "written", first.error
            big = [a for a in first.result.plan.assignments if a.model == LLAMA_405B]  # type: ignore[union-attr]
            assert {(a.zone, a.node.startswith("new:")) for a in big} == {("us-east-1a", True)}

            # Karpenter makes the two nodes in us-east-1a, and that was the zone's last two
            # p5.48xlarge: it has none left. The scaler wants a second replica.
            for name in ("ip-10-0-20-1.ec2.internal", "ip-10-0-20-2.ec2.internal"):
                node, slice_ = provisioned_node(name, "us-east-1a")
                server.seed(served.NODES, node)
                server.seed(served.RESOURCE_SLICES, slice_)
            instance_types[0] = p5("us-east-1a", 0)
            await wait_until(
                lambda: len(r.inventory(instance_types).nodes) == 6, "the new nodes were seen"
            )
            board(tracked(LLAMA_405B, f"{NS}/llama-405b"), decision(2, 2, START_S + 60))
            clock.advance(60.0)
            assert await r.elector.step()
            grow = await r.loop.turn()
            assert grow.outcome == "written", grow.error
            inventory = r.inventory(instance_types)

    assert grow.result is not None
    (change,) = [c for c in grow.result.changes if c.model == LLAMA_405B]
    assert change.landed == (f"{LLAMA_405B}-0",) and change.added == (f"{LLAMA_405B}-1",)
    zones = {a.replica: a.zone for a in grow.result.plan.assignments}
    assert zones == {f"{LLAMA_405B}-0": "us-east-1a", f"{LLAMA_405B}-1": "us-east-1b"}
    reason = (
        f"{LLAMA_405B} replica 1: us-east-1a has 0 p5.48xlarge available (needs 2); "
        "fell back to p5.48xlarge in us-east-1b"
    )
    assert reason in grow.result.reasons
    found = written_plan(server)
    demand = demand_of(cfg.controller_settings(), {LLAMA_405B: board.decisions()[LLAMA_405B].scale})
    check_plan(found.plan, inventory, demand)
    # The pods of each replica are pinned to its zone, and the ScaledObject's Event says why.
    groups = found.placements[LLAMA_405B].groups
    assert [[s.zone for s in g] for g in groups] == [["us-east-1a"] * 2, ["us-east-1b"] * 2]
    placed = [e for e in events_of(server, "Placed") if e["involvedObject"]["name"] == "llama-405b"]
    assert any(reason in e["message"] for e in placed)


async def test_api_errors_are_retried_and_the_plan_is_adopted_only_once_written(
    server: ApiServer,
) -> None:
    cfg = config()
    clock = ManualClock(START_S)
    instance_types = [p5("us-east-1a", 4), p5("us-east-1b", 4)]
    board = DecisionBoard()
    board(tracked(LLAMA_8B, f"{NS}/llama-8b"), decision(1, 1))
    sleep = RecordingSleep()
    async with server.client() as api:
        r = make_replica(api, "prewarm-0", clock, cfg, board.decisions, instance_types, sleep)
        async with running(r.watch.run()):
            await wait_until(r.watch.synced, "the informers listed")
            assert await r.elector.step()
            assert (await r.loop.turn()).outcome == "written"
            before = plan_index(r.loop.plan)
            board(tracked(LLAMA_8B, f"{NS}/llama-8b"), decision(3, 3))
            # The API server fails every ConfigMap write for a while (templates go through).
            server.faults.inject(503, times=1000, method="PATCH", path_contains="/configmaps")
            failed = await r.loop.turn()
            assert failed.outcome == "failed" and "503" in (failed.error or "")
            assert len(sleep.delays) >= 5  # the writer backed off between its attempts
            assert plan_index(r.loop.plan) == before  # not adopted: nothing says it is there
            again = await r.loop.turn()  # the loop's own retry, after its backoff
            assert again.outcome == "failed"
            server.faults.pending.clear()
            healed = await r.loop.turn()
            assert healed.outcome == "written", healed.error

    assert healed.result is not None and plan_index(r.loop.plan) != before
    assert plan_index(written_plan(server).plan) == plan_index(healed.result.plan)
    # The templates written by the failed turns are the ones the plan uses: none left over,
    # and the first plan's template was deleted only once nothing referred to it.
    templates = {t["metadata"]["name"] for t in stored(server, served.RESOURCE_CLAIM_TEMPLATES)}
    assert referenced_templates(server) == templates
    outcomes = r.metrics.registry.get_sample_value
    assert outcomes("prewarm_placement_reconciles_total", {"outcome": "failed"}) == 2


async def test_an_unreadable_inventory_holds_the_last_plan_and_unplaceable_demand_says_why(
    server: ApiServer,
) -> None:
    cfg = config()
    clock = ManualClock(START_S)
    board = DecisionBoard()
    board(tracked(LLAMA_8B, f"{NS}/llama-8b"), decision(2, 2))
    board(tracked(LLAMA_70B, f"{NS}/llama-70b"), decision(4, 4))  # the cluster has 2 A100s
    async with server.client() as api:
        r = make_replica(api, "prewarm-0", clock, cfg, board.decisions, [], RecordingSleep())
        assert await r.elector.step()
        # The informers have not listed yet: no inventory, the last plan (none) holds.
        held = await r.loop.turn()
        assert held.outcome == "held" and held.error == "not every informer has listed yet"
        assert writes(server) == []
        assert r.metrics.registry.get_sample_value("prewarm_placement_inventory_held") == 1
        async with running(r.watch.run()):
            await wait_until(r.watch.synced, "the informers listed")
            placed = await r.loop.turn()
    assert placed.outcome == "written" and placed.result is not None
    unplaced = {u.replica: u.reason for u in placed.result.plan.unplaced}
    assert set(unplaced) == {f"{LLAMA_70B}-2", f"{LLAMA_70B}-3"}
    replicas = {a.replica for a in placed.result.plan.assignments}
    assert {f"{LLAMA_8B}-0", f"{LLAMA_8B}-1", f"{LLAMA_70B}-0", f"{LLAMA_70B}-1"} <= replicas
    (warning,) = events_of(server, "NotPlaced")
    assert warning["type"] == "Warning" and warning["involvedObject"]["name"] == "llama-70b"
    assert warning["message"].startswith("2 replica(s) not placed: ")
    assert unplaced[f"{LLAMA_70B}-2"] in warning["message"]
    assert (
        r.metrics.registry.get_sample_value(
            "prewarm_placement_unplaced_replicas", {"model": LLAMA_70B}
        )
        == 2
    )
    assert r.metrics.registry.get_sample_value("prewarm_placement_inventory_held") == 0
    # The webhook learns the reasons too: the ConfigMap lists them.
    cm = written_plan(server).placements[LLAMA_70B]
    assert len(cm.unplaced) == 2


def vllm(running: float, waiting: float, t_s: float) -> Observation:
    """The scaler's latest observation of a model (what its engine's window holds)."""
    return Observation(t_s, 0.0, 0.0, running, waiting, 0.3, 1)


def prometheus_answering(engine: dict[str, tuple[float, int]]) -> httpx.MockTransport:
    """Hand-made Prometheus answers: per model named in an engine-activity query, its pods'
    mean DCGM_FI_PROF_GR_ENGINE_ACTIVE and device count (tagged as `combined` tags them);
    the health queries find no series (no GPU is unhealthy)."""

    def answer(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        result: list[dict[str, Any]] = []
        for model, (active, devices) in engine.items():
            if "DCGM_FI_PROF_GR_ENGINE_ACTIVE" in query and f'"{model}"' in query:
                t = request.url.params["time"]
                result = [
                    {"metric": {"prewarm_signal": "engine_active"}, "value": [t, str(active)]},
                    {"metric": {"prewarm_signal": "gpus"}, "value": [t, str(devices)]},
                ]
        body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        return httpx.Response(200, json=body)

    return httpx.MockTransport(answer)


async def test_an_idle_models_gpus_are_flagged_as_waste_with_an_idle_gpus_event(
    server: ApiServer,
) -> None:
    """DCGM shows both models' GPUs idle; vLLM reports no request for the 8B but 3 in flight
    for the 70B (a decode-bound lull, not waste). Only the 8B is flagged, through the wiring
    `serve` uses: the board's vLLM requests and the DCGM feed's engine activity."""
    cfg = config()
    clock = ManualClock(START_S)
    board = DecisionBoard()
    board(tracked(LLAMA_8B, f"{NS}/llama-8b", vllm(0, 0, START_S - 5)), decision(2, 2))
    board(tracked(LLAMA_70B, f"{NS}/llama-70b", vllm(2, 1, START_S - 5)), decision(1, 1))
    engine = {LLAMA_8B: (0.004, 2), LLAMA_70B: (0.01, 1)}
    feed = DcgmFeed(
        "http://prometheus.test:9090",
        cfg.health,
        models=board.loads,
        transport=prometheus_answering(engine),
    )
    async with server.client() as api:
        r = make_replica(
            api, "prewarm-0", clock, cfg, board.decisions, [], RecordingSleep(), health=feed
        )
        async with running(r.watch.run()):
            await wait_until(r.watch.synced, "the informers listed")
            assert await r.elector.step()
            first = await r.loop.turn()
            assert first.outcome == "written" and first.result is not None, first.error
            (flag,) = first.result.waste
            assert (flag.model, flag.replicas) == (LLAMA_8B, 2)
            assert "engine active 0.004 <= 0.02 on 2 device(s)" in flag.reason
            assert flag.reason in first.result.plan.reasons
            assert f"{LLAMA_8B}: IdleGpus" in first.events
            waste = r.metrics.registry.get_sample_value
            assert waste("prewarm_placement_waste", {"model": LLAMA_8B}) == 1

            # The scaler's observation goes stale (its refreshes fail): no evidence, no flag.
            clock.advance(cfg.health.max_age_s + 10)
            assert await r.elector.step()
            stale = await r.loop.turn()
            assert stale.result is not None and stale.result.waste == ()
    (idle,) = events_of(server, "IdleGpus")
    assert idle["type"] == "Warning" and idle["involvedObject"]["kind"] == "ScaledObject"
    assert idle["involvedObject"]["name"] == "llama-8b"
    assert "while vLLM reports no request" in idle["message"]
    assert waste("prewarm_placement_waste", {"model": LLAMA_8B}) == 0  # the stale turn cleared it
    assert waste("prewarm_placement_waste", {"model": LLAMA_70B}) == 0


def turns(r: Any) -> float:
    """Turns that got as far as a plan."""
    value = r.metrics.registry.get_sample_value
    counted = ("written", "unchanged", "held")
    return sum(value("prewarm_placement_reconciles_total", {"outcome": o}) or 0 for o in counted)


async def test_run_turns_once_per_burst_of_decisions_and_stops_cleanly(server: ApiServer) -> None:
    cfg = config()
    clock = ManualClock(START_S)
    board = DecisionBoard()
    never = asyncio.Event()
    slept: list[float] = []
    idle: list[bool] = [False]  # the loop waits for news (its resync timer is pending)

    async def sleep(seconds: float) -> None:
        """The debounce passes at once; the resync timer never fires in this test."""
        slept.append(seconds)
        if seconds >= cfg.resync_s:
            idle[0] = True
            try:
                await never.wait()
            finally:
                idle[0] = False
        await asyncio.sleep(0)

    def settled() -> bool:
        return idle[0] and not r.loop.inventory.changed.is_set() and r.watch.synced()

    async with server.client() as api:
        r = make_replica(api, "prewarm-0", clock, cfg, board.decisions, [], sleep)
        r.loop.elector = None  # one replica: no Lease
        r.loop.writer.may_write = lambda: True
        board.on_change = r.loop.poke
        stop = asyncio.Event()
        task = asyncio.create_task(r.loop.run(stop))
        await wait_until(
            lambda: settled() and r.loop.last is not None and r.loop.last.outcome != "held",
            "the informers' news was reconciled",
        )
        before = turns(r)
        for n in (2, 3, 4):  # three decisions in one burst, while the loop waits
            board(tracked(LLAMA_8B, f"{NS}/llama-8b"), decision(n, n))
        await wait_until(lambda: not idle[0], "the loop woke")
        await wait_until(settled, "the loop waits again")
        assert turns(r) - before == 1
        assert r.loop.plan is not None
        assert sum(1 for a in r.loop.plan.assignments if a.model == LLAMA_8B) == 4
        assert cfg.debounce_s in slept
        stop.set()
        await asyncio.wait_for(task, 5.0)
