"""Timeline tests of the placement controller's pure core: an injected clock steps through
scaler decisions, DCGM readings and cluster changes; after every turn the cluster converges to
the plan (controller_cluster.converge) and every plan must pass the independent checker."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pytest

from scheduler.controller import HealthReport, ReconcileResult, reconcile
from scheduler.controller.health import DcgmSample
from scheduler.controller.scale_demand import ModelScale, demand_from_scale
from scheduler.controller.settings import ControllerSettings, settings_from_dict
from scheduler.controller.waste import ModelActivity
from scheduler.inventory import Inventory, MigInstance
from scheduler.plan import Plan
from tests.scheduler.controller_cluster import converge, node, p5, running
from tests.scheduler.plan_check import check_plan

LLAMA = "llama-8b"
BIG = "llama-405b"


def settings(**extra: object) -> ControllerSettings:
    models = {
        LLAMA: {"mig_profile": "3g.40gb", "gpu_models": ["H100-80GB"]},
        BIG: {"gpus_per_replica": 8, "nodes_per_replica": 2, "gpu_models": ["H100-80GB"]},
    }
    return settings_from_dict({"namespace": "llm", "models": models, **extra})


@dataclass
class Loop:
    """Drives reconcile the way the I/O loop will: decisions -> demand -> reconcile -> apply."""

    inventory: Inventory
    settings: ControllerSettings
    plan: Plan | None = None

    def turn(
        self,
        now_s: float,
        scales: Mapping[str, ModelScale],
        health: HealthReport | None = None,
        *,
        pods_start: bool = True,
    ) -> ReconcileResult:
        demand, notes = demand_from_scale(scales, self.settings, self.plan)
        result = reconcile(self.plan, self.inventory, demand, health, self.settings, now_s, notes)
        check_plan(result.plan, self.inventory, demand, result.closed_gpus)
        self.plan = result.plan
        if pods_start:
            self.inventory = converge(self.inventory, result.plan, set(self.settings.models))
        return result


def change(result: ReconcileResult, model: str = LLAMA):  # type: ignore[no-untyped-def]
    return next(c for c in result.changes if c.model == model)


def llama_only(n: int, horizon: int | None = None) -> dict[str, ModelScale]:
    return {LLAMA: ModelScale(n, n if horizon is None else horizon), BIG: ModelScale(0, 0)}


def xid(uuid: str, at_s: float, code: int = 79) -> DcgmSample:
    return DcgmSample(uuid, at_s, node="n1", xid=code)


def test_a_rise_from_4_to_9_keeps_the_4_where_they_run_and_adds_5() -> None:
    loop = Loop(Inventory((node("n1"), node("n2"))), settings())
    first = loop.turn(0.0, llama_only(4))
    assert change(first).added == tuple(f"{LLAMA}-{i}" for i in range(4))
    before = running(loop.inventory)[LLAMA]
    assert len(before) == 4

    # KEDA's decision is still 4 now, the forecast wants 9 at the horizon: place 9 now.
    rise = loop.turn(30.0, llama_only(4, horizon=9))
    assert f"{LLAMA}: places 9 = max(4 now, 9 forecast at the horizon)" in rise.reasons
    c = change(rise)
    assert (c.kept, c.released, c.moved) == (4, (), ())
    assert sorted(c.added) == sorted(f"{LLAMA}-{i}" for i in range(4, 9))
    kept = {a.replica: (a.node, a.gpu, a.profile, a.start) for a in rise.plan.assignments if a.kept}
    assert kept == before  # exactly where they ran
    # The diff: the model's one template pins every planned GPU, so a new one replaces it,
    # the ConfigMap is rewritten, and the old template goes last.
    assert [o["kind"] for o in rise.diff.templates] == ["ResourceClaimTemplate"]
    old_template = first.diff.templates[0]["metadata"]["name"]
    assert rise.diff.delete == (("ResourceClaimTemplate", old_template),)
    (configmap,) = rise.diff.configmaps
    assert configmap["metadata"] == {
        **configmap["metadata"],
        "name": "prewarm-placement-llama-8b",
        "namespace": "llm",
    }
    placement = json.loads(configmap["data"]["placement.json"])
    assert [s["replica"] for s in placement["singleNode"]] == [f"{LLAMA}-{i}" for i in range(9)]
    assert rise.gap_gpus == 0 and rise.plan.lower_bound_gpus == 5

    # The next turn comes before the new pods run: the 5 stay where they were planned.
    pending = loop.turn(45.0, llama_only(9), pods_start=False)
    assert pending.diff.empty and not change(pending).changed
    assert {a.replica: a.gpu for a in pending.plan.assignments} == {
        a.replica: a.gpu for a in rise.plan.assignments
    }

    # The pods run; nothing changes: nothing to write, everything kept.
    loop.turn(50.0, llama_only(9))
    calm = loop.turn(60.0, llama_only(9))
    assert calm.diff.empty
    assert change(calm).kept == 9 and not change(calm).changed


def test_a_shrink_releases_the_highest_indices() -> None:
    loop = Loop(Inventory((node("n1"), node("n2"))), settings())
    loop.turn(0.0, llama_only(9))
    before = running(loop.inventory)[LLAMA]
    shrink = loop.turn(60.0, llama_only(6))
    c = change(shrink)
    assert sorted(c.released) == [f"{LLAMA}-6", f"{LLAMA}-7", f"{LLAMA}-8"]
    assert c.kept == 6 and not c.added and not c.moved
    after = running(loop.inventory)[LLAMA]
    assert after == {r: p for r, p in before.items() if r not in c.released}


def test_a_shrink_releases_the_replicas_on_an_unhealthy_gpu_first() -> None:
    loop = Loop(Inventory((node("n1"), node("n2"))), settings())
    loop.turn(0.0, llama_only(9))
    by_gpu: dict[str, list[str]] = {}
    for replica, (_, gpu, _, _) in sorted(running(loop.inventory)[LLAMA].items()):
        by_gpu.setdefault(gpu, []).append(replica)
    # A GPU with two replicas (two 3g.40gb to an H100), neither of them llama-7 or llama-8.
    sick_gpu, on_sick = next(
        (g, sorted(rs))
        for g, rs in sorted(by_gpu.items())
        if len(rs) == 2 and not {f"{LLAMA}-7", f"{LLAMA}-8"} & set(rs)
    )

    health = HealthReport((xid(sick_gpu, 55.0),))
    shrink = loop.turn(60.0, llama_only(7), health)
    c = change(shrink)
    assert sorted(c.released) == on_sick  # not llama-7 and llama-8
    assert {f"{LLAMA}-7", f"{LLAMA}-8"} <= set(running(loop.inventory)[LLAMA])
    assert shrink.closed_gpus == {sick_gpu}
    why = next(r for r in shrink.reasons if sick_gpu in r)
    assert "unhealthy (XID 79 (GPU fallen off the bus))" in why
    assert shrink.plan.extra["gpu_health"][sick_gpu]["closed"] is True

    # Growing again, nothing new goes to the sick GPU (check_plan checks it too).
    grow = loop.turn(120.0, llama_only(9), HealthReport((xid(sick_gpu, 115.0),)))
    assert all(a.gpu != sick_gpu for a in grow.plan.assignments)


@pytest.mark.parametrize(
    ("sample", "why"),
    [
        (DcgmSample("GPU-n1-0", 0.0, xid=48), "XID 48 (double-bit ECC error)"),
        (DcgmSample("GPU-n1-0", 0.0, ecc_dbe_volatile=2), "2 double-bit ECC error(s)"),
        (DcgmSample("GPU-n1-0", 0.0, row_remap_failure=1), "row-remap failure"),
        (DcgmSample("GPU-n1-0", 0.0, clocks_event_reasons=0x40), "HW thermal slowdown"),
        (
            DcgmSample("GPU-n1-0", 0.0, power_violation_fraction=0.9),
            "at its power limit 90 % of the time",
        ),
    ],
    ids=["xid", "ecc", "row-remap", "thermal", "power"],
)
def test_an_unhealthy_or_throttled_gpu_is_avoided_with_its_reason(
    sample: DcgmSample, why: str
) -> None:
    loop = Loop(Inventory((node("n1", gpus=2),)), settings())
    result = loop.turn(10.0, llama_only(4), HealthReport((sample,)))
    assert {a.gpu for a in result.plan.assignments} == {"GPU-n1-1"}
    c = change(result)
    assert len(c.added) == 2 and len(c.unplaced) == 2  # the rest is placed, the gap said why
    assert any("GPU-n1-0" in r and why in r for r in result.reasons)
    assert all(u.reason for u in result.plan.unplaced)


def test_stale_or_application_dcgm_readings_close_nothing() -> None:
    loop = Loop(Inventory((node("n1", gpus=2),)), settings())
    stale = DcgmSample("GPU-n1-0", 0.0, xid=79)  # 600 s old at t=600 (max_age_s 120)
    app = DcgmSample("GPU-n1-1", 600.0, xid=13)  # an application's fault, not the GPU's
    result = loop.turn(600.0, llama_only(4), HealthReport((stale, app)))
    assert not result.closed_gpus and not result.plan.unplaced
    assert {a.gpu for a in result.plan.assignments} == {"GPU-n1-0", "GPU-n1-1"}


def test_throttled_gpus_stay_open_when_the_settings_say_so() -> None:
    loop = Loop(Inventory((node("n1", gpus=2),)), settings(health={"exclude_throttled": False}))
    hot = DcgmSample("GPU-n1-0", 0.0, clocks_event_reasons=0x20)
    result = loop.turn(0.0, llama_only(4), HealthReport((hot,)))
    assert not result.closed_gpus and not result.plan.unplaced
    assert any("throttled (SW thermal slowdown): still placed" in r for r in result.reasons)


def test_a_zone_goes_short_mid_run_and_new_multinode_replicas_fall_back_with_the_reason() -> None:
    inventory = Inventory((), (p5("us-east-1a", 4), p5("us-east-1b", 4)))
    loop = Loop(inventory, settings())
    big = {LLAMA: ModelScale(0, 0), BIG: ModelScale(1, 1)}
    first = loop.turn(0.0, big)
    assert {(a.zone, a.node.startswith("new:")) for a in first.plan.assignments} == {
        ("us-east-1a", True)
    }
    first_nodes = {n.name for n in loop.inventory.nodes}  # Karpenter made the two nodes
    assert len(first_nodes) == 2

    # us-east-1a runs out of p5.48xlarge; the scaler wants a second replica.
    short = replace(loop.inventory, instance_types=(p5("us-east-1a", 0), p5("us-east-1b", 4)))
    loop.inventory = short
    grow = loop.turn(60.0, {LLAMA: ModelScale(0, 0), BIG: ModelScale(2, 2)})
    c = change(grow, BIG)
    # Replica 0 landed on the nodes Karpenter made for it: not a move.
    assert c.landed == (f"{BIG}-0",) and c.kept == 1 and c.added == (f"{BIG}-1",)
    assert not c.moved
    zones = {a.replica: (a.zone, a.instance_type) for a in grow.plan.assignments}
    assert zones == {
        f"{BIG}-0": ("us-east-1a", "p5.48xlarge"),
        f"{BIG}-1": ("us-east-1b", "p5.48xlarge"),
    }
    assert {a.node for a in grow.plan.assignments if a.replica == f"{BIG}-0"} == first_nodes
    assert (
        f"{BIG} replica 1: us-east-1a has 0 p5.48xlarge available (needs 2); "
        "fell back to p5.48xlarge in us-east-1b"
    ) in grow.reasons
    configmap = next(
        o for o in grow.diff.configmaps if o["metadata"]["name"] == "prewarm-placement-llama-405b"
    )
    groups = json.loads(configmap["data"]["placement.json"])["groups"]
    zone_terms = [
        {
            e["key"]: e["values"]
            for e in slot["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"
            ]["nodeSelectorTerms"][0]["matchExpressions"]
        }["topology.kubernetes.io/zone"]
        for group in groups
        for slot in group
    ]
    assert zone_terms == [["us-east-1a"]] * 2 + [["us-east-1b"]] * 2


def test_demand_that_cannot_be_placed_is_unplaced_with_a_reason_and_the_rest_is_placed() -> None:
    s = settings_from_dict(
        {
            "models": {
                LLAMA: {"mig_profile": "3g.40gb"},
                "qwen-a100": {"memory_gib": 30, "gpu_models": ["A100-80GB"]},
            }
        }
    )
    loop = Loop(Inventory((node("n1", gpus=1),)), s)
    result = loop.turn(0.0, {LLAMA: ModelScale(3, 3), "qwen-a100": ModelScale(2, 2)})
    placed = {a.replica for a in result.plan.assignments}
    assert placed == {f"{LLAMA}-0", f"{LLAMA}-1"}
    reasons = {u.replica: u.reason for u in result.plan.unplaced}
    assert set(reasons) == {f"{LLAMA}-2", "qwen-a100-0", "qwen-a100-1"}
    assert reasons["qwen-a100-0"] == "no free GPU or provisionable node for 3g.40gb on A100-80GB"
    # Every model gets its ConfigMap, the unplaced one with its reasons for the webhook.
    qwen = next(o for o in result.diff.configmaps if o["metadata"]["name"].endswith("qwen-a100"))
    assert json.loads(qwen["data"]["placement.json"])["unplaced"] == [
        f"qwen-a100-{i}: no free GPU or provisionable node for 3g.40gb on A100-80GB"
        for i in range(2)
    ]


def test_a_model_whose_gpus_are_idle_with_no_load_is_flagged_as_waste() -> None:
    loop = Loop(Inventory((node("n1", gpus=2),)), settings())
    loop.turn(0.0, llama_only(2))
    idle = {LLAMA: ModelActivity(55.0, engine_active=0.004, devices_reporting=2, requests=0.0)}
    flagged = loop.turn(60.0, llama_only(2), HealthReport(activity=idle))
    (flag,) = flagged.waste
    assert (flag.model, flag.replicas) == (LLAMA, 2)
    assert flag.reason in flagged.reasons
    assert flagged.plan.extra["waste"] == [{"model": LLAMA, "replicas": 2, "reason": flag.reason}]

    busy = {LLAMA: replace(idle[LLAMA], at_s=115.0, requests=3.0)}
    assert loop.turn(120.0, llama_only(2), HealthReport(activity=busy)).waste == ()
    stale = {LLAMA: replace(idle[LLAMA], at_s=0.0)}
    assert loop.turn(600.0, llama_only(2), HealthReport(activity=stale)).waste == ()


def test_an_unreadable_inventory_holds_the_last_plan_and_writes_nothing() -> None:
    loop = Loop(Inventory((node("n1"),)), settings())
    first = loop.turn(0.0, llama_only(2))
    demand, _ = demand_from_scale(llama_only(5), loop.settings, first.plan)
    held = reconcile(first.plan, None, demand, None, loop.settings, 60.0)
    assert held.held and held.plan is first.plan and held.diff.empty
    assert held.reasons[0] == "inventory unreadable: the last plan holds, nothing is written"


def test_no_decision_yet_holds_the_last_plans_replicas() -> None:
    loop = Loop(Inventory((node("n1"),)), settings())
    loop.turn(0.0, llama_only(3))
    result = loop.turn(60.0, {BIG: ModelScale(0, 0)})  # the scaler restarted: no llama yet
    assert change(result).kept == 3 and not change(result).changed
    assert f"{LLAMA}: no scaler decision yet; holds the last plan's 3 replica(s)" in result.reasons


@pytest.mark.parametrize("allowed", [False, True], ids=["kept-in-place", "defragmented"])
def test_running_slices_move_only_when_defragmentation_is_allowed(allowed: bool) -> None:
    # Fragmented: one llama replica on each of two GPUs (what scale-downs leave behind).
    n1 = node("n1", gpus=2)
    gpus = tuple(
        replace(g, mig=(MigInstance("3g.40gb", 0, True, LLAMA, f"{LLAMA}-{i}"),))
        for i, g in enumerate(n1.gpus)
    )
    loop = Loop(Inventory((replace(n1, gpus=gpus),)), settings(allow_defragment=allowed))
    result = loop.turn(0.0, llama_only(2))
    c = change(result)
    if allowed:
        assert result.plan.gpus_used == 1 and len(c.moved) == 1 and c.kept == 1
        assert "defragmentation: moving 1 running slice(s) frees 1 GPU(s)" in result.reasons
    else:
        assert result.plan.gpus_used == 2 and not c.moved and c.kept == 2


@pytest.mark.parametrize("seed", range(4))
def test_a_random_timeline_passes_the_checker_every_turn(seed: int) -> None:
    """Scale changes, unhealthy GPUs, pods that start or not, a zone that runs short: every
    plan valid, replicas on healthy GPUs never moved without defragmentation."""
    rng = np.random.default_rng(seed)
    s = settings_from_dict(
        {
            "models": {
                LLAMA: {"mig_profile": "3g.40gb"},
                "small": {"mig_profile": "1g.10gb"},
                "qwen": {"memory_gib": 30, "gpu_models": ["H100-80GB", "A100-80GB"]},
                BIG: {"gpus_per_replica": 8, "nodes_per_replica": 2},
            }
        }
    )
    types = (p5("us-east-1a", 3), p5("us-east-1b", 3))
    loop = Loop(Inventory((node("n1"), node("n2"), node("n3", "us-east-1b")), types), s)
    for step in range(12):
        now = 60.0 * step
        scales = {
            m: ModelScale(int(rng.integers(0, 6)), int(rng.integers(0, 8)))
            for m in (LLAMA, "small", "qwen")
        }
        scales[BIG] = ModelScale(int(rng.integers(0, 3)), 0)
        uuids = [g.uuid for n in loop.inventory.nodes for g in n.gpus]
        sick = [DcgmSample(u, now, xid=79) for u in rng.choice(uuids, size=2, replace=False)]
        if step == 6:  # us-east-1a runs out of p5.48xlarge
            loop.inventory = replace(
                loop.inventory,
                instance_types=tuple(
                    replace(t, available=0) if t.zone == "us-east-1a" else t
                    for t in loop.inventory.instance_types
                ),
            )
        before = running(loop.inventory)
        result = loop.turn(now, scales, HealthReport(tuple(sick)), pods_start=bool(step % 3))
        for c in result.changes:
            assert not c.moved, f"step {step}: {c}"
        for model, replicas in running(loop.inventory).items():
            for replica, place in replicas.items():
                was = before.get(model, {}).get(replica)
                assert was is None or was == place, (step, model, replica, was, place)
