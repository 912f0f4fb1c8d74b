"""Which replica a running pod is, across place -> webhook -> cluster -> inventory -> place.

A Deployment's pods have no index, so no replica name; a StatefulSet pod-index or a
LeaderWorkerSet group-index N is replica `<model>-N` in every plan, whatever the order of the
inventory; and every planned GPU stays reachable from the one template such pods share.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import celpy
import jsonpatch
import pytest

from scheduler.demand import Demand, ModelDemand
from scheduler.inventory import Gpu, Inventory, MigInstance, Node, inventory_from_dict
from scheduler.kubernetes.admission import mutate_pod
from scheduler.kubernetes.inventory import inventory_from_api
from scheduler.kubernetes.manifests import render_manifests
from scheduler.kubernetes.placement import (
    MAX_ALTERNATIVES,
    REPLICA_ANNOTATION,
    model_placements,
)
from scheduler.kubernetes.plan_store import LoadedPlan, _label_index
from scheduler.place import plan_placement
from scheduler.plan import Plan
from tests.scheduler_kubernetes.dra_devices import matches, recorded
from tests.scheduler_kubernetes.plans import mig, multi_node_group, whole
from tests.scheduler_kubernetes.pods import pod

LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
POD_INDEX = "apps.kubernetes.io/pod-index"
LWS_GROUP = "leaderworkerset.sigs.k8s.io/group-index"

Json = dict[str, Any]


def loaded(plan: Plan) -> LoadedPlan:
    placements = model_placements(plan)
    return LoadedPlan(placements, 1, _label_index(placements))


def admitted(obj: Json, plan: LoadedPlan) -> Json:
    return jsonpatch.apply_patch(copy.deepcopy(obj), list(mutate_pod(obj, plan).patch))


def _request_fields(template: Json) -> list[Json]:
    (request,) = template["spec"]["spec"]["devices"]["requests"]
    return [request["exactly"]] if "exactly" in request else request["firstAvailable"]


def _allocate(claim_template: Json, taken: set[str]) -> str:
    """What the DRA scheduler does with one claim: the first alternative with a free matching
    device, and of its matches the first (real CEL over the recorded ResourceSlices)."""
    for fields in _request_fields(claim_template):
        free = sorted(matches(fields) - taken)
        if free:
            taken.add(free[0])
            return free[0]
    raise AssertionError(f"no free device for {claim_template['metadata']['name']}")


def _claim(model: str, owner: Json, device: str) -> Json:
    """A claim Kubernetes generated from one of our templates for `owner`, allocated
    `device` ("pool/device"), in the recorded claims' shape."""
    claim = copy.deepcopy(
        next(c for c in recorded("resourceclaims.json")["items"] if "70b" in c["metadata"]["name"])
    )
    pool, name = device.split("/")
    meta = claim["metadata"]
    meta["name"] = f"{owner['metadata']['name']}-prewarm-gpu-x1y2z"
    meta["uid"] = "c-" + owner["metadata"]["uid"]
    meta["annotations"]["prewarm.dev/model"] = model
    ref = {"name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
    meta["ownerReferences"][0].update(ref)
    claim["status"]["reservedFor"] = [{"resource": "pods", **ref}]
    claim["status"]["allocation"]["devices"]["results"] = [
        {"request": "gpu", "driver": "gpu.nvidia.com", "pool": pool, "device": name}
    ]
    return claim


def _run_deployment_pods(plan: Plan, models: list[str]) -> tuple[Json, Json]:
    """Two Deployment pods per model through the webhook, scheduled by DRA: (claims, pods)."""
    by_name = {
        t["metadata"]["name"]: t
        for t in render_manifests(plan, namespace="llm")
        if t["kind"] == "ResourceClaimTemplate"
    }
    webhook = loaded(plan)
    taken: set[str] = set()
    claims: list[Json] = []
    pods: list[Json] = []
    for model in models:
        for _ in range(2):
            obj = admitted(pod(annotations={"prewarm.dev/model": model}), webhook)
            obj["metadata"]["name"] = f"vllm-{len(pods)}-abcde"
            obj["metadata"]["uid"] = f"00000000-0000-4000-8000-00000000000{len(pods)}"
            template = by_name[obj["spec"]["resourceClaims"][0]["resourceClaimTemplateName"]]
            claims.append(_claim(model, obj, _allocate(template, taken)))
            pods.append(obj)
    return {"kind": "ResourceClaimList", "items": claims}, {"kind": "PodList", "items": pods}


def test_deployment_pods_round_trip_as_distinct_kept_replicas() -> None:
    """Whole GPUs and MIG slices of Deployments: the next plan keeps every running pod as its
    own replica and places nothing anew (before: all pods were named <model>-0, so the whole
    GPUs were released as one wrong-shaped replica and the slices kept twice under one name)."""
    nodes, slices = recorded("nodes.json"), recorded("resourceslices.json")
    demand = Demand(
        (
            ModelDemand(LLAMA_70B, 2, gpus_per_replica=1, gpu_models=("A100-40GB",)),
            ModelDemand(LLAMA_8B, 2, mig_profile="3g.40gb", gpu_models=("H100-80GB",)),
        )
    )
    first = plan_placement(inventory_from_dict(inventory_from_api(nodes, slices)), demand)
    assert not first.unplaced
    claims, pods = _run_deployment_pods(first, [LLAMA_70B, LLAMA_8B])
    assert all(REPLICA_ANNOTATION not in p["metadata"]["annotations"] for p in pods["items"])

    inventory = inventory_from_api(nodes, slices, claims, pods)
    second = plan_placement(inventory_from_dict(inventory), demand)

    assert not second.unplaced and all(a.kept for a in second.assignments), second
    replicas = [(a.model, a.replica) for a in second.assignments]
    assert sorted(replicas) == sorted(
        [(m, f"{m}-{n}") for m in (LLAMA_70B, LLAMA_8B) for n in range(2)]
    )
    assert not any("released" in r for r in second.reasons)
    render_manifests(second)  # a plan the webhook and kubectl accept


def _gpu(uuid: str, *mig_instances: MigInstance, **kw: Any) -> Gpu:
    return Gpu(uuid, "H100-80GB", tuple(mig_instances), **kw)


@pytest.mark.parametrize(
    "nodes",
    [
        (
            Node("n1", "a", "p5", (_gpu("G1", MigInstance("3g.40gb", 0, True, "m", "m-0")),)),
            Node("n2", "b", "p5", (_gpu("G2", MigInstance("3g.40gb", 0, True, "m", "m-0")),)),
        ),
        (
            Node(
                "n1",
                "a",
                "p5",
                (
                    _gpu(
                        "G1",
                        MigInstance("3g.40gb", 0, True, "m", "m-0"),
                        MigInstance("3g.40gb", 4, True, "m", "m-0"),
                    ),
                ),
            ),
        ),
    ],
    ids=["two-zones", "one-gpu"],
)
def test_slices_an_older_webhook_named_alike_are_kept_as_distinct_replicas(
    nodes: tuple[Node, ...],
) -> None:
    plan = plan_placement(Inventory(nodes), Demand((ModelDemand("m", 2, mig_profile="3g.40gb"),)))
    assert sorted((a.replica, a.kept) for a in plan.assignments) == [("m-0", True), ("m-1", True)]
    render_manifests(plan)  # before: "replica 'm-0' of 'm' spans instance types/zones"
    placement = model_placements(plan)["m"]
    assert [(s.replica, s.choice.count) for s in placement.single] == [("m-0", 1), ("m-1", 1)]


def test_whole_gpus_an_older_webhook_named_alike_are_kept_not_released() -> None:
    busy = tuple(
        Gpu(f"B{i}", "H100-80GB", in_use=True, served_model="w", replica="w-0") for i in range(2)
    )
    inventory = Inventory(
        (
            Node("idle", "a", "p5", (Gpu("I0", "H100-80GB"), Gpu("I1", "H100-80GB"))),
            Node("busy", "a", "p5", busy),
        )
    )
    plan = plan_placement(inventory, Demand((ModelDemand("w", 2, gpus_per_replica=1),)))
    assert sorted((a.replica, a.gpu, a.kept) for a in plan.assignments) == [
        ("w-0", "B0", True),
        ("w-1", "B1", True),
    ]
    assert not any("released" in r for r in plan.reasons)


def test_surplus_running_replicas_go_from_the_highest_index() -> None:
    """A StatefulSet scaled down keeps pods 0..n-1: the plan keeps those replicas."""
    running = [MigInstance("1g.10gb", k, True, "m", f"m-{k}") for k in (3, 2, 1, 0)]
    inventory = Inventory((Node("n", "a", "p5", (_gpu("G", *running),)),))
    plan = plan_placement(inventory, Demand((ModelDemand("m", 2, mig_profile="1g.10gb"),)))
    assert sorted(a.replica for a in plan.assignments if a.kept) == ["m-0", "m-1"]


def test_lws_group_index_names_the_same_replica_whatever_the_plan_order() -> None:
    nodes = ["ip-10-1-0-1", "ip-10-1-0-2", "ip-10-1-0-3", "ip-10-1-0-4"]
    m = "meta-llama/Llama-3.1-405B-Instruct"
    # The inventory listed replica 1's nodes first, so the packer emitted it first.
    plan = Plan(
        2,
        2,
        1.0,
        0,
        (*multi_node_group(f"{m}-1", nodes[:2]), *multi_node_group(f"{m}-0", nodes[2:])),
    )
    webhook = loaded(plan)
    for group, replica_nodes in ((0, nodes[2:]), (1, nodes[:2])):
        obj = admitted(pod(m, labels={LWS_GROUP: str(group)}), webhook)
        assert obj["metadata"]["annotations"][REPLICA_ANNOTATION] == f"{m}-{group}"
        slot = webhook.placements[m].groups[group][0]
        assert slot.node == replica_nodes[0]
        assert obj["spec"]["resourceClaims"][0]["resourceClaimTemplateName"] == slot.template


def test_statefulset_pod_index_names_its_replica_and_gaps_take_the_rest() -> None:
    g = "GPU-5d1c9a2e-0b7f-4c3a-9e21-7a1f4c2b9d01"
    plan = Plan(1, 1, 1.0, 0, tuple(mig(f"m-{k}", "m", g, "1g.10gb", k) for k in (7, 1, 0)))
    assert [s.replica for s in model_placements(plan)["m"].single] == ["m-0", "m-1", "m-7"]
    webhook = loaded(plan)
    for index, replica in ((0, "m-0"), (1, "m-1"), (2, "m-7")):
        obj = admitted(pod("m", labels={POD_INDEX: str(index)}), webhook)
        assert obj["metadata"]["annotations"][REPLICA_ANNOTATION] == replica
    beyond = mutate_pod(pod("m", labels={POD_INDEX: "3"}), webhook)
    assert "beyond the 3 planned replicas" in beyond.warnings[0]
    assert not any("annotations" in op["path"] for op in beyond.patch)  # m-0's name stays m-0's


def _uuid(k: int) -> str:
    return f"GPU-{k:08d}-0000-4000-8000-000000000000"


def _selected(fields: list[Json], devices: list[Json]) -> set[str]:
    """uuids of the devices some alternative's CEL selects (real CEL, devices as DRA sees them)."""
    env = celpy.Environment()
    out = set()
    for f in fields:
        (selector,) = f["selectors"]
        program = env.program(env.compile(selector["cel"]["expression"]))
        for device in devices:
            if bool(program.evaluate(celpy.json_to_cel({"device": device}))):  # type: ignore[arg-type]
                out.add(device["attributes"]["gpu.nvidia.com"]["parentUUID"])
    return out


@pytest.mark.parametrize("gpus", [10, 300], ids=["10-gpus", "300-gpus"])
def test_a_deployment_pod_can_reach_every_planned_parent_gpu(gpus: int) -> None:
    """20 3g.40gb on 10 H100s reached only 8 parents (one alternative per slot, at most 8)."""
    plan = Plan(
        gpus,
        gpus,
        1.0,
        0,
        tuple(
            mig(f"m-{2 * k + s}", "m", _uuid(k), "3g.40gb", 4 * s)
            for k in range(gpus)
            for s in range(2)
        ),
    )
    obj = admitted(pod("m"), loaded(plan))
    name = obj["spec"]["resourceClaims"][0]["resourceClaimTemplateName"]
    (template,) = [t for t in render_manifests(plan) if t["metadata"]["name"] == name]
    fields = _request_fields(template)
    assert len(fields) <= MAX_ALTERNATIVES
    assert all(len(f["selectors"][0]["cel"]["expression"]) <= 10 * 1024 for f in fields)
    devices = [
        {
            "driver": "gpu.nvidia.com",
            "attributes": {
                "gpu.nvidia.com": {
                    "productName": "NVIDIA H100 80GB HBM3",
                    "profile": profile,
                    "parentUUID": _uuid(k),
                    "type": "mig",
                }
            },
        }
        for k in range(gpus + 1)  # one H100 more than planned: not for this model
        for profile in ("3g.40gb", "4g.40gb")
    ]
    assert _selected(fields, devices) == {_uuid(k) for k in range(gpus)}


def test_a_template_whose_content_changes_changes_its_name() -> None:
    """ResourceClaimTemplate specs are immutable: `kubectl apply` of a new plan must create a
    new template rather than edit one (before: a slot's template kept its name when the
    model's other slots, listed in it as alternatives, changed)."""
    g1, g2, g3 = _uuid(1), _uuid(2), _uuid(3)
    one = Plan(1, 1, 1.0, 0, (mig("m-0", "m", g1, "3g.40gb", 0), mig("m-1", "m", g2, "3g.40gb", 0)))
    two = Plan(1, 1, 1.0, 0, (mig("m-0", "m", g1, "3g.40gb", 0), mig("m-1", "m", g3, "3g.40gb", 0)))
    specs: dict[str, str] = {}
    for plan in (one, two):
        for obj in render_manifests(plan):
            if obj["kind"] == "ResourceClaimTemplate":
                spec = json.dumps(obj["spec"], sort_keys=True)
                assert specs.setdefault(obj["metadata"]["name"], spec) == spec


def test_single_node_pods_of_a_model_share_one_claim_over_all_its_gpus() -> None:
    """Deployment and StatefulSet pods alike: one template, one choice with both planned A100s
    of the recorded node; whichever pod comes first takes a free one."""
    node = "ip-10-0-45-67.ec2.internal"
    a0, a1 = "GPU-2c4e6a8b-3d5f-4a7c-9e1b-0d2f4a6c8e01", "GPU-2c4e6a8b-3d5f-4a7c-9e1b-0d2f4a6c8e02"
    plan = Plan(
        2,
        2,
        1.0,
        0,
        tuple(
            whole(f"w-{k}", "w", node, gpu, gpu_model="A100-40GB") for k, gpu in enumerate((a0, a1))
        ),
    )
    webhook = loaded(plan)
    names = {
        admitted(pod("w", labels=labels), webhook)["spec"]["resourceClaims"][0][
            "resourceClaimTemplateName"
        ]
        for labels in ({}, {POD_INDEX: "0"}, {POD_INDEX: "1"})
    }
    assert len(names) == 1, names
    (template,) = [o for o in render_manifests(plan) if o["metadata"]["name"] in names]
    (fields,) = _request_fields(template)
    assert fields["count"] == 1
    assert matches(fields) == {f"{node}/gpu-0", f"{node}/gpu-1"}
