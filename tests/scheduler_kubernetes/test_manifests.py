"""render_manifests / write_manifests: valid objects, the right selectors, a kustomize build."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from scheduler.kubernetes.dns_names import is_dns_label, label_value
from scheduler.kubernetes.manifests import (
    MODEL_LABEL,
    PLACEMENT_KEY,
    placement_configmap_name,
    render_manifests,
    write_manifests,
)
from scheduler.kubernetes.placement import PlanError, model_placements
from scheduler.plan import Plan
from tests.deploy.manifests import K8S_VERSIONS, Obj, ident, kubectl, of_kind, validation_errors
from tests.deploy.test_examples import DRA_ATTRIBUTES
from tests.scheduler_kubernetes.dra_devices import matches
from tests.scheduler_kubernetes.plans import (
    A100_A,
    H100_A,
    H100_B,
    LLAMA_8B,
    LLAMA_405B,
    NODE_A100,
    QWEN,
    mig,
    mixed_plan,
    whole,
)

NS = "llm"
ATTRIBUTE = re.compile(r"attributes\['gpu\.nvidia\.com'\]\.(\w+)")


@pytest.fixture(scope="module")
def objects() -> list[Obj]:
    return render_manifests(mixed_plan(), namespace=NS)


def templates(objects: list[Obj]) -> dict[str, Obj]:
    return {t["metadata"]["name"]: t for t in of_kind(objects, "ResourceClaimTemplate")}


def request_fields(template: Obj) -> list[Obj]:
    """The device fields of every alternative: [exactly] or the firstAvailable list."""
    (request,) = template["spec"]["spec"]["devices"]["requests"]
    return [request["exactly"]] if "exactly" in request else request["firstAvailable"]


def configmap_json(objects: list[Obj], model: str) -> Obj:
    (cm,) = [
        c
        for c in of_kind(objects, "ConfigMap")
        if c["metadata"]["name"] == placement_configmap_name(model)
    ]
    return json.loads(cm["data"][PLACEMENT_KEY])


@pytest.mark.parametrize("version", sorted(set(K8S_VERSIONS)))
def test_every_object_validates_against_the_kubernetes_schema(
    objects: list[Obj], version: str
) -> None:
    problems = {ident(o): e for o in objects if (e := validation_errors(o, version))}
    assert not problems, yaml.safe_dump(problems)


def test_one_template_per_distinct_choice_and_one_configmap_per_placed_model(
    objects: list[Obj],
) -> None:
    # Single-node models: one template each (8B: 3g on H100_A or H100_B; Qwen: 1g on H100_B,
    # else a whole A100). 405B: one per existing node, one shared by both new nodes (nothing
    # to pin there).
    assert len(templates(objects)) == 1 + 1 + 3
    assert {c["metadata"]["name"] for c in of_kind(objects, "ConfigMap")} == {
        "prewarm-placement-meta-llama-llama-3-1-8b",
        "prewarm-placement-qwen-qwen2-5-7b-instruct",
        "prewarm-placement-meta-llama-llama-3-1-405b-instruct",
    }  # mistral is unplaced: nothing to apply for it
    for obj in objects:
        assert is_dns_label(obj["metadata"]["name"]), obj["metadata"]["name"]
        assert obj["metadata"]["namespace"] == NS


def test_selectors_pin_model_profile_and_parent_with_published_attributes(
    objects: list[Obj],
) -> None:
    for template in templates(objects).values():
        for fields in request_fields(template):
            text = " ".join(s["cel"]["expression"] for s in fields["selectors"])
            used = set(ATTRIBUTE.findall(text))
            assert used <= DRA_ATTRIBUTES
            assert not re.search(r"\b(index|minor)\b", text)
            assert "productName" in used
            if fields["deviceClassName"] == "mig.nvidia.com":
                assert "profile" in used and "uuid" not in used
            else:
                assert fields["deviceClassName"] == "gpu.nvidia.com" and "profile" not in used
    by_name = templates(objects)
    (llama,) = [t for n, t in by_name.items() if n.startswith("prewarm-meta-llama-llama-3-1-8b")]
    (only,) = request_fields(llama)
    assert only["deviceClassName"] == "mig.nvidia.com" and only["count"] == 1
    assert only["selectors"][0]["cel"]["expression"] == (
        "device.attributes['gpu.nvidia.com'].productName == \"NVIDIA H100 80GB HBM3\" && "
        "device.attributes['gpu.nvidia.com'].profile == \"3g.40gb\" && "
        f'device.attributes[\'gpu.nvidia.com\'].parentUUID in ["{H100_A}", "{H100_B}"]'
    )


def test_single_node_slots_share_one_template_with_one_choice_per_kind_of_device(
    objects: list[Obj],
) -> None:
    placements = model_placements(mixed_plan())
    llama = placements[LLAMA_8B]
    assert [s.choice.gpus for s in llama.single] == [(H100_A,), (H100_A,), (H100_B,)]
    assert {s.template for s in llama.single} == {llama.any_slot.template}  # type: ignore[union-attr]
    (template,) = llama.templates
    assert [c.gpus for c in template.alternatives] == [(H100_A, H100_B)]
    # Qwen's two kinds, in plan order: a 1g slice on H100_B first, else a whole A100.
    fields = request_fields(templates(objects)[placements[QWEN].single[0].template])
    assert [(f["name"], f["deviceClassName"]) for f in fields] == [
        ("p0", "mig.nvidia.com"),
        ("p1", "gpu.nvidia.com"),
    ]
    assert H100_B in fields[0]["selectors"][0]["cel"]["expression"]
    assert A100_A in fields[1]["selectors"][0]["cel"]["expression"]


def test_multi_node_whole_gpus_claim_all_eight_of_the_node_and_new_nodes_stay_unpinned(
    objects: list[Obj],
) -> None:
    placement = model_placements(mixed_plan())[LLAMA_405B]
    existing, new = placement.groups
    for slot in existing:
        fields = request_fields(templates(objects)[slot.template])
        assert fields[0]["count"] == 8 and fields[0]["deviceClassName"] == "gpu.nvidia.com"
        expression = fields[0]["selectors"][0]["cel"]["expression"]
        assert ".uuid in [" in expression and all(g in expression for g in slot.choice.gpus)
    assert new[0].template == new[1].template and new[0].template.endswith("-any")
    (unpinned,) = request_fields(templates(objects)[new[0].template])
    assert "uuid" not in unpinned["selectors"][0]["cel"]["expression"]
    assert unpinned["count"] == 8


def test_placement_configmap_holds_what_the_webhook_injects(objects: list[Obj]) -> None:
    placements = model_placements(mixed_plan())
    for model, placement in placements.items():
        if placement.single or placement.groups:
            assert configmap_json(objects, model) == placement.to_json()
    data = configmap_json(objects, LLAMA_405B)
    assert data["singleNode"] == []
    assert data["workloadAnnotations"] == {
        "leaderworkerset.sigs.k8s.io/exclusive-topology": "topology.kubernetes.io/zone"
    }
    group0, group1 = data["groups"]
    for pod in group0:
        affinity = pod["affinity"]["nodeAffinity"]
        (term,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert term["matchExpressions"] == [
            {
                "key": "node.kubernetes.io/instance-type",
                "operator": "In",
                "values": ["p5.48xlarge"],
            },
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-west-2b"]},
        ]
        (preferred,) = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
        assert preferred["preference"]["matchExpressions"] == [
            {"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "In", "values": ["h100"]},
            {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["7"]},
        ]
        assert pod["annotations"]["kueue.x-k8s.io/podset-required-topology"] == (
            "topology.kubernetes.io/zone"
        )
    # One Kueue pod-set group per replica: both pods of a group share it, groups differ.
    names = [
        {p["annotations"]["kueue.x-k8s.io/podset-group-name"] for p in g} for g in (group0, group1)
    ]
    assert all(len(n) == 1 for n in names) and names[0] != names[1]
    zones = {
        p["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ][0]["matchExpressions"][1]["values"][0]
        for p in group1
    }
    assert zones == {"us-west-2c"}
    qwen = configmap_json(objects, QWEN)
    assert all("affinity" not in pod for pod in qwen["singleNode"])  # single-node: the claim pins


def test_selectors_pick_exactly_the_planned_devices_in_the_recorded_cluster() -> None:
    """Real CEL over the recorded ResourceSlices: the plan's parent GPU and nothing else."""
    plan = Plan(
        gpus_used=2,
        lower_bound_gpus=2,
        cost_per_hour=1.0,
        moves=0,
        assignments=(
            mig("a/0", LLAMA_8B, H100_A, "3g.40gb", 4),
            whole("b/0", QWEN, NODE_A100, A100_A, gpu_model="A100-40GB"),
        ),
    )
    by_name = templates(render_manifests(plan))
    matched = {name: matches(request_fields(t)[0]) for name, t in by_name.items()}
    assert sorted(matched.values(), key=len) == [
        {"ip-10-0-45-67.ec2.internal/gpu-0"},
        {
            "ip-10-0-12-34.ec2.internal/gpu-0-mig-3g40gb-9-0",
            "ip-10-0-12-34.ec2.internal/gpu-0-mig-3g40gb-9-4",
        },
    ]


def test_write_manifests_builds_with_kubectl_kustomize(tmp_path: Path) -> None:
    plan = mixed_plan()
    paths = write_manifests(plan, tmp_path / "plan", namespace=NS)
    kustomization = yaml.safe_load((tmp_path / "plan" / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in paths[:-1])
    assert not any("&id" in p.read_text() for p in paths)  # plain YAML, no anchors to decode
    result = subprocess.run(
        [kubectl(), "kustomize", str(tmp_path / "plan")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    built = [d for d in yaml.safe_load_all(result.stdout) if d]
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(built, key=key) == sorted(render_manifests(plan, namespace=NS), key=key)


def test_plans_that_cannot_be_claimed_are_refused_with_the_reason() -> None:
    base = mixed_plan()
    cross_zone = replace(
        base,
        assignments=base.assignments
        + (whole("405b/0", LLAMA_405B, "ip-10-1-9-9", "GPU-x", zone="us-west-2a"),),
    )
    with pytest.raises(PlanError, match="one instance type in one zone"):
        render_manifests(cross_zone)
    unknown = replace(base, assignments=(mig("x/0", "m", H100_A, "3g.40gb", 0, gpu_model="L4"),))
    with pytest.raises(ValueError, match="unknown GPU model 'L4'"):
        render_manifests(unknown)
    mixed = replace(
        base,
        assignments=(mig("x/0", "m", H100_A, "3g.40gb", 0), mig("x/0", "m", H100_B, "4g.40gb", 0)),
    )
    with pytest.raises(PlanError, match="one kind of device"):
        render_manifests(mixed)
    clash = replace(
        base,
        assignments=(
            mig("x/0", "Org/Model", H100_A, "3g.40gb", 0),
            mig("y/0", "org-model", H100_B, "3g.40gb", 0),
        ),
    )
    with pytest.raises(PlanError, match="both map to object name"):
        render_manifests(clash)


def test_generated_claims_will_name_the_model_they_serve(objects: list[Obj]) -> None:
    """Kubernetes copies a template's spec.metadata onto each claim it generates: that is
    how `prewarm inventory` later knows whose replica runs on a slice."""
    for template in templates(objects).values():
        claim_meta = template["spec"]["metadata"]
        model = claim_meta["annotations"][MODEL_LABEL]
        assert template["metadata"]["annotations"][MODEL_LABEL] == model
        assert claim_meta["labels"][MODEL_LABEL] == label_value(model)
