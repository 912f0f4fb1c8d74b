"""inventory_from_api against recorded API responses (see recorded/README.md)."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import yaml

from scheduler.kubernetes.inventory import inventory_from_api
from tests.scheduler_kubernetes.dra_devices import recorded

H100_0 = "GPU-5d1c9a2e-0b7f-4c3a-9e21-7a1f4c2b9d01"
H100_1 = "GPU-8e2f3b4c-1d6a-4f7b-a832-6b2e5d3c0e02"


def inventory() -> dict:  # type: ignore[type-arg]
    return inventory_from_api(
        recorded("nodes.json"), recorded("resourceslices.json"), recorded("resourceclaims.json")
    )


def by_name(inv: dict) -> dict:  # type: ignore[type-arg]
    return {n["name"]: n for n in inv["nodes"]}


def test_static_mig_h100_node_with_slices_and_use() -> None:
    node = by_name(inventory())["ip-10-0-12-34.ec2.internal"]
    assert node == {
        "name": "ip-10-0-12-34.ec2.internal",
        "zone": "us-east-1a",
        "instance_type": "p5.48xlarge",
        "gpus": [
            {
                "uuid": H100_0,
                "model": "H100-80GB",
                "in_use": False,
                "mig": [
                    {
                        "profile": "3g.40gb",
                        "start": 0,
                        "in_use": True,
                        "model": "meta-llama/Llama-3.1-8B-Instruct",  # from its claim
                    },
                    {"profile": "3g.40gb", "start": 4, "in_use": False},
                ],
            },
            {
                "uuid": H100_1,
                "model": "H100-80GB",
                "in_use": False,
                "mig": [
                    {"profile": "4g.40gb", "start": 0, "in_use": False},
                    {"profile": "2g.20gb", "start": 4, "in_use": False},
                    {"profile": "1g.10gb", "start": 6, "in_use": True},
                ],
            },
        ],
    }


def test_whole_gpu_a100_node() -> None:
    node = by_name(inventory())["ip-10-0-45-67.ec2.internal"]
    assert (node["zone"], node["instance_type"]) == ("us-east-1b", "p4d.24xlarge")
    assert [(g["model"], g["in_use"], g["mig"]) for g in node["gpus"]] == [
        ("A100-40GB", False, []),
        ("A100-40GB", True, []),
    ]
    assert [g.get("served_model") for g in node["gpus"]] == [
        None,
        "meta-llama/Llama-3.1-70B-Instruct",
    ]


def test_a_claim_without_prewarms_model_leaves_its_slice_unlabelled() -> None:
    gpu = by_name(inventory())["ip-10-0-12-34.ec2.internal"]["gpus"][1]
    in_use = [m for m in gpu["mig"] if m["in_use"]]
    assert len(in_use) == 1 and "model" not in in_use[0]  # qwen's claim names no model


def test_the_label_names_the_model_when_the_annotation_is_missing() -> None:
    claims = copy.deepcopy(recorded("resourceclaims.json"))
    first = claims["items"][0]["metadata"]
    del first["annotations"]["prewarm.dev/model"]
    nodes = by_name(
        inventory_from_api(recorded("nodes.json"), recorded("resourceslices.json"), claims)
    )
    mig = nodes["ip-10-0-12-34.ec2.internal"]["gpus"][0]["mig"][0]
    assert mig["model"] == first["labels"]["prewarm.dev/model"]


def test_dynamic_mig_lists_only_partitions_that_exist() -> None:
    node = by_name(inventory())["ip-10-0-77-10.ec2.internal"]
    (gpu,) = node["gpus"]
    assert gpu["mig"] == [{"profile": "3g.40gb", "start": 4, "in_use": True}]
    assert gpu["in_use"] is False


def test_label_only_gpu_node_and_cpu_node() -> None:
    nodes = by_name(inventory())
    h200 = nodes["ip-10-0-90-11.ec2.internal"]["gpus"]
    assert len(h200) == 8 and {(g["uuid"], g["model"]) for g in h200} == {("", "H200-141GB")}
    assert "ip-10-0-3-200.ec2.internal" not in nodes


def test_without_claims_nothing_is_in_use() -> None:
    inv = inventory_from_api(recorded("nodes.json"), recorded("resourceslices.json"))
    node = by_name(inv)["ip-10-0-12-34.ec2.internal"]
    assert not any(m["in_use"] for g in node["gpus"] for m in g["mig"])
    # DynamicMIG: with nothing allocated, no instance exists yet.
    assert by_name(inv)["ip-10-0-77-10.ec2.internal"]["gpus"][0]["mig"] == []


def test_start_falls_back_to_device_name_then_to_the_profile() -> None:
    slices = copy.deepcopy(recorded("resourceslices.json"))
    static = slices["items"][0]["spec"]["devices"]
    for device in static:  # an older driver: no memorySlice capacities
        device["capacity"] = {
            k: v for k, v in device["capacity"].items() if not k.startswith("memorySlice")
        }
    static[1]["name"] = "mig-device-without-placement"  # the 3g.40gb at 4
    inv = inventory_from_api(recorded("nodes.json"), slices)
    gpu0 = by_name(inv)["ip-10-0-12-34.ec2.internal"]["gpus"][0]
    assert [m["start"] for m in gpu0["mig"]] == [0, 4]  # 0 from the name, 4 = first free 3g start


def test_unknown_product_is_left_out_and_qualified_attribute_names_are_read() -> None:
    slices = copy.deepcopy(recorded("resourceslices.json"))
    a100 = slices["items"][2]["spec"]["devices"]
    a100[0]["attributes"]["productName"] = {"string": "NVIDIA A100-PCIE-40GB"}
    a100[1]["attributes"] = {f"gpu.nvidia.com/{k}": v for k, v in a100[1]["attributes"].items()}
    inv = inventory_from_api(recorded("nodes.json"), slices)
    gpus = by_name(inv)["ip-10-0-45-67.ec2.internal"]["gpus"]
    assert [g["uuid"] for g in gpus] == ["GPU-2c4e6a8b-3d5f-4a7c-9e1b-0d2f4a6c8e02"]


def test_a_slice_read_back_with_its_model_is_kept_by_the_next_plan(tmp_path: Path) -> None:
    from scheduler.demand import load_demand
    from scheduler.inventory import load_inventory
    from scheduler.place import plan_placement

    inv = {**inventory(), "instance_types": []}
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inv))
    (tmp_path / "demand.yaml").write_text(
        yaml.safe_dump(
            {
                "models": [
                    {
                        "name": "meta-llama/Llama-3.1-8B-Instruct",
                        "replicas": 2,
                        "mig_profile": "3g.40gb",
                    }
                ]
            }
        )
    )
    demand = load_demand(tmp_path / "demand.yaml")
    plan = plan_placement(load_inventory(tmp_path / "inventory.yaml"), demand)
    kept = [a for a in plan.assignments if a.kept]
    assert [(a.gpu, a.profile, a.start) for a in kept] == [(H100_0, "3g.40gb", 0)]
    assert len(plan.assignments) == 2 and not plan.unplaced


def with_pods() -> dict:  # type: ignore[type-arg]
    return inventory_from_api(
        recorded("nodes.json"),
        recorded("resourceslices.json"),
        recorded("resourceclaims.json"),
        recorded("pods.json"),
    )


def test_the_owning_pods_replica_annotation_names_the_replica_of_a_labelled_device() -> None:
    nodes = by_name(with_pods())
    whole = nodes["ip-10-0-45-67.ec2.internal"]["gpus"]
    assert [g.get("replica") for g in whole] == [None, "meta-llama/Llama-3.1-70B-Instruct-0"]
    mig = nodes["ip-10-0-12-34.ec2.internal"]["gpus"][0]["mig"]
    assert [m.get("replica") for m in mig] == ["meta-llama/Llama-3.1-8B-Instruct-0", None]
    # qwen's pod did not opt in and its claim names no model: no replica either.
    qwen = [m for m in nodes["ip-10-0-12-34.ec2.internal"]["gpus"][1]["mig"] if m["in_use"]]
    assert "replica" not in qwen[0]


def test_a_pod_listed_only_as_the_claims_user_still_names_the_replica() -> None:
    claims = copy.deepcopy(recorded("resourceclaims.json"))
    for claim in claims["items"]:
        claim["metadata"].pop("ownerReferences")  # a shared claim: only reservedFor
    inv = inventory_from_api(
        recorded("nodes.json"), recorded("resourceslices.json"), claims, recorded("pods.json")
    )
    gpu = by_name(inv)["ip-10-0-45-67.ec2.internal"]["gpus"][1]
    assert gpu["replica"] == "meta-llama/Llama-3.1-70B-Instruct-0"


def test_a_replica_annotation_without_the_models_claim_label_is_ignored() -> None:
    claims = copy.deepcopy(recorded("resourceclaims.json"))
    for claim in claims["items"]:
        claim["metadata"]["annotations"].pop("prewarm.dev/model", None)
        claim["metadata"].get("labels", {}).pop("prewarm.dev/model", None)
    inv = inventory_from_api(
        recorded("nodes.json"), recorded("resourceslices.json"), claims, recorded("pods.json")
    )
    gpu = by_name(inv)["ip-10-0-45-67.ec2.internal"]["gpus"][1]
    assert "served_model" not in gpu and "replica" not in gpu


def _plan_70b(inv: dict, tmp_path: Path):  # type: ignore[no-untyped-def,type-arg]
    from scheduler.demand import load_demand
    from scheduler.inventory import load_inventory
    from scheduler.place import plan_placement

    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump({**inv, "instance_types": []}))
    (tmp_path / "demand.yaml").write_text(
        yaml.safe_dump(
            {
                "models": [
                    {
                        "name": "meta-llama/Llama-3.1-70B-Instruct",
                        "replicas": 1,
                        "gpus_per_replica": 1,
                        "gpu_models": ["A100-40GB"],
                    }
                ]
            }
        )
    )
    demand = load_demand(tmp_path / "demand.yaml")
    return plan_placement(load_inventory(tmp_path / "inventory.yaml"), demand)


def test_a_whole_gpu_replica_read_back_with_its_replica_is_kept_by_the_next_plan(
    tmp_path: Path,
) -> None:
    running_gpu = by_name(with_pods())["ip-10-0-45-67.ec2.internal"]["gpus"][1]["uuid"]
    plan = _plan_70b(with_pods(), tmp_path)
    assert [(a.replica, a.gpu, a.kept) for a in plan.assignments] == [
        ("meta-llama/Llama-3.1-70B-Instruct-0", running_gpu, True)
    ]
    # Without the pods (a Deployment's carry no replica name) the claim still names the model:
    # a single-node replica needs no name, so it is kept all the same.
    fresh = _plan_70b(inventory(), tmp_path)
    assert [(a.replica, a.gpu, a.kept) for a in fresh.assignments] == [
        ("meta-llama/Llama-3.1-70B-Instruct-0", running_gpu, True)
    ]


def test_a_claim_shared_by_pods_of_two_replicas_names_no_replica() -> None:
    claims = copy.deepcopy(recorded("resourceclaims.json"))
    pods = copy.deepcopy(recorded("pods.json"))
    whole = next(c for c in claims["items"] if "70b" in c["metadata"]["name"])
    pending = pods["items"][2]  # the other llama-70b pod, given replica "...-1"
    whole["status"]["reservedFor"].append(
        {"resource": "pods", "name": pending["metadata"]["name"], "uid": pending["metadata"]["uid"]}
    )
    inv = inventory_from_api(recorded("nodes.json"), recorded("resourceslices.json"), claims, pods)
    gpu = by_name(inv)["ip-10-0-45-67.ec2.internal"]["gpus"][1]
    assert gpu["served_model"] == "meta-llama/Llama-3.1-70B-Instruct"
    assert "replica" not in gpu


LABEL_ONLY = "ip-10-0-90-11.ec2.internal"  # 8 H200, GPU feature discovery labels only


def with_gfd_labels(**labels: str) -> dict:  # type: ignore[type-arg]
    """The recorded inventory with GFD labels of the label-only node replaced (NVIDIA
    k8s-device-plugin docs/gfd_labels.md; internal/lm/mig-strategy.go)."""
    nodes = copy.deepcopy(recorded("nodes.json"))
    node = next(n for n in nodes["items"] if n["metadata"]["name"] == LABEL_ONLY)
    node["metadata"]["labels"].update(labels)
    return inventory_from_api(nodes, recorded("resourceslices.json"))


@pytest.mark.parametrize(
    "labels",
    [
        # "single": gpu.count counts MIG devices (8 GPUs x 7 x 1g.18gb), not GPUs.
        {
            "nvidia.com/mig.strategy": "single",
            "nvidia.com/gpu.product": "NVIDIA-H200-MIG-1g.18gb",
            "nvidia.com/gpu.count": "56",
        },
        # "single" with mismatched GPUs: GFD publishes MIG-INVALID and a count of 0.
        {
            "nvidia.com/mig.strategy": "single",
            "nvidia.com/gpu.product": "NVIDIA-H200-MIG-INVALID",
            "nvidia.com/gpu.count": "0",
        },
        # "mixed": gpu.count counts GPUs, but two of them hold MIG instances nobody placed.
        {"nvidia.com/mig.strategy": "mixed", "nvidia.com/mig-3g.71gb.count": "4"},
    ],
    ids=["single", "single-invalid", "mixed"],
)
def test_a_label_only_node_with_mig_devices_is_left_out_with_a_warning_naming_it(
    labels: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="prewarm.inventory"):
        nodes = by_name(with_gfd_labels(**labels))
    assert LABEL_ONLY not in nodes
    assert "ip-10-0-12-34.ec2.internal" in nodes  # the rest is read as before
    (record,) = caplog.records
    assert f"node {LABEL_ONLY} left out" in record.getMessage()
    assert "MIG devices" in record.getMessage()


def test_single_strategy_labels_without_mig_enabled_are_whole_gpus() -> None:
    # GFD sets the strategy label even when no GPU has MIG on; the labels are then plain.
    nodes = by_name(with_gfd_labels(**{"nvidia.com/mig.strategy": "single"}))
    gpus = nodes[LABEL_ONLY]["gpus"]
    assert len(gpus) == 8 and {g["model"] for g in gpus} == {"H200-141GB"}
