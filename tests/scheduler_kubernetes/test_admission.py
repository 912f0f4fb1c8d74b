"""mutate_pod, pure: which slot a pod gets, and a JSONPatch that applies to a valid Pod."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from scheduler.kubernetes.admission import mutate_pod
from scheduler.kubernetes.placement import CLAIM_NAME, model_placements
from scheduler.kubernetes.plan_store import LoadedPlan, _label_index
from tests.deploy.manifests import validation_errors
from tests.scheduler_kubernetes.plans import LLAMA_8B, LLAMA_405B, QWEN, mixed_plan
from tests.scheduler_kubernetes.pods import pod

LWS_GROUP = "leaderworkerset.sigs.k8s.io/group-index"
LWS_WORKER = "leaderworkerset.sigs.k8s.io/worker-index"


@pytest.fixture(scope="module")
def plan() -> LoadedPlan:
    placements = model_placements(mixed_plan())
    return LoadedPlan(placements, 1, _label_index(placements))


def applied(obj: dict[str, Any], plan: LoadedPlan) -> tuple[dict[str, Any], tuple[str, ...]]:
    mutation = mutate_pod(obj, plan)
    patched = jsonpatch.apply_patch(copy.deepcopy(obj), list(mutation.patch))
    assert not validation_errors(patched), validation_errors(patched)
    return patched, mutation.warnings


def test_pod_not_opted_in_is_left_alone(plan: LoadedPlan) -> None:
    mutation = mutate_pod(pod(LLAMA_8B, opted_in=False), plan)
    assert mutation.patch == () and mutation.warnings == ()


def test_deployment_pod_gets_the_models_claim_no_replica_name_and_the_container_uses_it(
    plan: LoadedPlan,
) -> None:
    patched, warnings = applied(pod(LLAMA_8B), plan)
    shared = plan.placements[LLAMA_8B].single[0].template  # every single-node slot's
    assert warnings == ()
    assert patched["spec"]["resourceClaims"] == [
        {"name": CLAIM_NAME, "resourceClaimTemplateName": shared}
    ]
    assert patched["spec"]["containers"][0]["resources"]["claims"] == [{"name": CLAIM_NAME}]
    assert patched["spec"]["containers"][0]["resources"]["limits"] == {"memory": "32Gi"}
    # No index, so no replica: one name on every pod of the Deployment would make the next
    # `prewarm inventory` read one replica off all of them.
    assert "annotations" not in patched["metadata"]
    assert "affinity" not in patched["spec"]


def test_exact_model_annotation_and_named_container(plan: LoadedPlan) -> None:
    obj = pod(annotations={"prewarm.dev/model": QWEN, "prewarm.dev/container": "vllm"})
    sidecar = {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"}
    obj["spec"]["containers"].insert(0, sidecar)
    obj["spec"]["resourceClaims"] = [{"name": "scratch", "resourceClaimTemplateName": "x"}]
    patched, _ = applied(obj, plan)
    assert [c["name"] for c in patched["spec"]["resourceClaims"]] == ["scratch", CLAIM_NAME]
    assert "resources" not in patched["spec"]["containers"][0]
    assert patched["spec"]["containers"][1]["resources"]["claims"] == [{"name": CLAIM_NAME}]
    assert patched["metadata"]["annotations"]["prewarm.dev/model"] == QWEN  # kept


def test_statefulset_pod_index_picks_its_slot(plan: LoadedPlan) -> None:
    slots = plan.placements[LLAMA_8B].single
    patched, _ = applied(pod(LLAMA_8B, labels={"apps.kubernetes.io/pod-index": "2"}), plan)
    assert patched["spec"]["resourceClaims"][0]["resourceClaimTemplateName"] == slots[2].template
    assert patched["metadata"]["annotations"] == {"prewarm.dev/replica": "llama-8b/2"}
    beyond, warnings = applied(pod(LLAMA_8B, labels={"apps.kubernetes.io/pod-index": "7"}), plan)
    assert "beyond the 3 planned replicas" in warnings[0]
    assert "annotations" not in beyond["metadata"]  # a planned replica's name is another pod's


@pytest.mark.parametrize(("group", "worker"), [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_leaderworkerset_pod_gets_its_groups_node_affinity_and_annotations(
    plan: LoadedPlan, group: int, worker: int
) -> None:
    obj = pod(LLAMA_405B, labels={LWS_GROUP: str(group), LWS_WORKER: str(worker)})
    # A pod affinity of its own (LWS keeps a group together) and a required node term that is
    # ANDed with ours, not replaced.
    obj["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "Exists"}]}
                ]
            }
        },
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "topologyKey": "topology.kubernetes.io/zone",
                    "labelSelector": {"matchLabels": {"app": "x"}},
                }
            ]
        },
    }
    patched, warnings = applied(obj, plan)
    slot = plan.placements[LLAMA_405B].groups[group][worker]
    assert warnings == ()
    assert patched["spec"]["resourceClaims"][0]["resourceClaimTemplateName"] == slot.template
    affinity = patched["spec"]["affinity"]
    assert "podAffinity" in affinity
    (term,) = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    keys = [e["key"] for e in term["matchExpressions"]]
    assert keys == [
        "nvidia.com/gpu.present",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/zone",
    ]
    assert term["matchExpressions"][2]["values"] == [slot.zone]
    assert (
        affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0][
            "preference"
        ]["matchExpressions"][0]["key"]
        == "karpenter.k8s.aws/instance-gpu-name"
    )
    annotations = patched["metadata"]["annotations"]
    assert annotations["kueue.x-k8s.io/podset-required-topology"] == "topology.kubernetes.io/zone"
    assert annotations["kueue.x-k8s.io/podset-group-name"]
    assert annotations["prewarm.dev/replica"] == f"405b/{group}"


def test_multi_node_pod_without_index_or_beyond_the_plan_is_allowed_with_a_warning(
    plan: LoadedPlan,
) -> None:
    for labels, said in (
        ({}, "its pods need LeaderWorkerSet index labels"),
        ({LWS_GROUP: "5"}, "group 5 not"),
        ({LWS_GROUP: "0", LWS_WORKER: "2"}, "no worker 2"),
    ):
        mutation = mutate_pod(pod(LLAMA_405B, labels=labels), plan)
        assert mutation.patch == ()
        assert said in mutation.warnings[0]


def test_opted_in_without_a_plan_for_the_model_warns_and_never_blocks(plan: LoadedPlan) -> None:
    mutation = mutate_pod(pod("mistralai/Mistral-7B"), plan)
    assert mutation.patch == ()
    assert mutation.warnings == (
        "prewarm: plan has no placement for model mistralai-Mistral-7B "
        "(mistral/0: no capacity in any zone)",
    )
    assert "no placement plan is loaded" in mutate_pod(pod(LLAMA_8B), None).warnings[0]
    assert "no prewarm.dev/model" in mutate_pod(pod(), plan).warnings[0]
    bad = pod(LLAMA_8B, annotations={"prewarm.dev/container": "nope"})
    assert "'nope'" in mutate_pod(bad, plan).warnings[0]


def test_a_placed_pod_is_not_patched_twice(plan: LoadedPlan) -> None:
    """reinvocationPolicy: IfNeeded calls the webhook again on the patched pod."""
    patched, _ = applied(pod(LLAMA_8B), plan)
    assert mutate_pod(patched, plan).patch == ()


def test_conflicts_with_the_plan_are_warned_not_fixed(plan: LoadedPlan) -> None:
    obj = pod(LLAMA_405B, labels={LWS_GROUP: "0"})
    obj["spec"]["nodeSelector"] = {"node.kubernetes.io/instance-type": "p4d.24xlarge"}
    obj["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "8"
    patched, warnings = applied(obj, plan)
    assert any("also requests nvidia.com/gpu" in w for w in warnings)
    assert any("p4d.24xlarge but the plan chose p5.48xlarge" in w for w in warnings)
    assert patched["spec"]["nodeSelector"] == obj["spec"]["nodeSelector"]


@pytest.mark.parametrize(
    "index",
    ["²", "١", "5" * 5000, "1e3", "-1", " 1", "0x1", "+1", "1234567890", ""],
    ids=[
        "superscript",
        "arabic-indic",
        "5000-digits",
        "exponent",
        "negative",
        "space",
        "hex",
        "plus",
        "ten-digits",
        "empty",
    ],
)
def test_an_index_label_that_is_not_a_plain_number_is_no_index(
    plan: LoadedPlan, index: str
) -> None:
    # The API server validates labels after mutating admission, so values like these reach
    # the webhook; str.isdigit() took "²" (and int() then raised) and int() took "١" as 1.
    shared = plan.placements[LLAMA_8B].single[0].template
    for key in ("apps.kubernetes.io/pod-index", LWS_GROUP):
        patched, warnings = applied(pod(LLAMA_8B, labels={key: index}), plan)
        assert warnings == ()
        assert patched["spec"]["resourceClaims"][0]["resourceClaimTemplateName"] == shared
        assert "annotations" not in patched["metadata"]  # no replica named after it
