"""Inventory and demand YAML: shape, meaning, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scheduler.demand import load_demand
from scheduler.input_errors import PlacementInputError
from scheduler.inventory import load_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "placement"


def gpu(uuid: str, *mig: dict[str, object], model: str = "H100-80GB") -> dict[str, object]:
    return {"uuid": uuid, "model": model, "mig": list(mig)}


def inventory_file(tmp_path: Path, nodes: list[dict[str, object]], **extra: object) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump({"nodes": nodes, **extra}))
    return path


def node(name: str, *gpus: dict[str, object]) -> dict[str, object]:
    return {"name": name, "zone": "us-east-1a", "instance_type": "p5.48xlarge", "gpus": list(gpus)}


def test_the_examples_load() -> None:
    inventory = load_inventory(EXAMPLES / "inventory.yaml")
    demand = load_demand(EXAMPLES / "demand.yaml")
    assert len(inventory.nodes) == 3
    assert any(t.available == 0 for t in inventory.instance_types)
    big = next(m for m in demand.models if m.gpus_per_replica)
    assert (big.gpus_per_replica, big.nodes_per_replica) == (8, 2)


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        (
            [node("a", gpu("u1", model="H100-81GB"))],
            "nodes.0.gpus.0.model: unknown GPU model 'H100-81GB'",
        ),
        (
            [node("a", gpu("u1", {"profile": "3g.20gb", "start": 0}))],
            "nodes.0.gpus.0.mig.0.profile: '3g.20gb' is not a H100-80GB profile",
        ),
        (
            [node("a", gpu("u1", {"profile": "3g.40gb", "start": 2}))],
            "nodes.0.gpus.0.mig.0.start: 2 is not an allowed start for 3g.40gb on H100-80GB (0, 4)",
        ),
        (
            [
                node(
                    "a",
                    gpu(
                        "u1", {"profile": "3g.40gb", "start": 4}, {"profile": "2g.20gb", "start": 4}
                    ),
                )
            ],
            "nodes.0.gpus.0.mig.1: 2g.20gb@4 overlaps memory slices of nodes.0.gpus.0.mig.0",
        ),
        (
            [
                node(
                    "a",
                    gpu(
                        "u1",
                        {"profile": "1g.10gb+me", "start": 0},
                        {"profile": "1g.10gb+me", "start": 1},
                    ),
                )
            ],
            "nodes.0.gpus.0.mig.1.profile: more than 1 1g.10gb+me on one H100-80GB",
        ),
        (
            [node("a", gpu("u1")), node("b", gpu("u1"))],
            "nodes.1.gpus.0.uuid: duplicate GPU uuid 'u1' (also nodes.0.gpus.0)",
        ),
        (
            [node("a", gpu("u1")), node("a", gpu("u2"))],
            "nodes.1.name: duplicate node 'a' (also nodes.0)",
        ),
        ([{**node("a"), "labels": {}}], "nodes.0.labels: unknown key"),
        (
            [node("a", gpu("u1", {"profile": "1g.10gb", "start": 0, "inuse": True}))],
            "nodes.0.gpus.0.mig.0.inuse: unknown key",
        ),
    ],
    ids=[
        "unknown-gpu",
        "unknown-profile",
        "bad-start",
        "overlap",
        "two-plus-me",
        "dup-uuid",
        "dup-node",
        "unknown-key",
        "typo-key",
    ],
)
def test_inventory_problems_are_named(
    tmp_path: Path, nodes: list[dict[str, object]], expected: str
) -> None:
    path = inventory_file(tmp_path, nodes)
    with pytest.raises(PlacementInputError) as err:
        load_inventory(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_all_problems_at_once(tmp_path: Path) -> None:
    path = inventory_file(
        tmp_path,
        [
            node("a", gpu("u1", {"profile": "3g.40gb", "start": 2}), gpu("u1")),
            node("a", gpu("u2", {"profile": "9g.90gb", "start": 0})),
        ],
    )
    with pytest.raises(PlacementInputError) as err:
        load_inventory(path)
    assert len(err.value.problems) == 4, err.value.problems
    assert str(err.value).startswith(f"{path}: 4 problems")


def test_shape_errors_come_together_too(tmp_path: Path) -> None:
    path = inventory_file(
        tmp_path,
        [node("a", {"uuid": "u", "model": "nope"})],
        instance_types=[
            {
                "name": "p5",
                "zone": "z",
                "gpu_model": "H100-80GB",
                "gpus": 0,
                "price_per_hour": 1,
                "available": -1,
            }
        ],
    )
    with pytest.raises(PlacementInputError) as err:
        load_inventory(path)
    text = str(err.value)
    assert "nodes.0.gpus.0.model" in text
    assert "instance_types.0.gpus" in text and "instance_types.0.available" in text


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [\n")
    with pytest.raises(PlacementInputError, match="not valid YAML"):
        load_inventory(bad)
    with pytest.raises(PlacementInputError, match="absent.yaml: 1 problem\n  file not found"):
        load_inventory(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            {"name": "m", "replicas": 1},
            "models.0: give exactly one of mig_profile, memory_gib, gpus_per_replica",
        ),
        (
            {"name": "m", "replicas": 1, "memory_gib": 10, "mig_profile": "1g.10gb"},
            "(got mig_profile, memory_gib)",
        ),
        (
            {"name": "m", "replicas": 1, "memory_gib": 10, "nodes_per_replica": 2},
            "nodes_per_replica goes with gpus_per_replica",
        ),
        (
            {"name": "m", "replicas": -1, "memory_gib": 10},
            "models.0.replicas: Input should be greater than or equal to 0",
        ),
        (
            {"name": "m", "replicas": 1, "memory_gib": 10, "gpu_models": ["V100"]},
            "models.0.gpu_models: unknown GPU model(s) 'V100'",
        ),
        (
            {"name": "m", "replicas": 1, "mig_profile": "3g.40gb", "gpu_models": ["H200-141GB"]},
            "'3g.40gb' exists on A100-80GB, H100-80GB, not on H200-141GB",
        ),
        (
            {"name": "m", "replicas": 1, "memory_gib": 10, "priority": 1},
            "models.0.priority: unknown key",
        ),
        (
            {
                "name": "m",
                "replicas": 1,
                "mig_profile": "3g.40gb",
                "gpu_models": ["H100-80GB", "A100-80GB", "H100-80GB"],
            },
            "models.0.gpu_models: 'H100-80GB' listed more than once for model 'm'",
        ),
    ],
    ids=[
        "none",
        "two",
        "nodes-without-gpus",
        "negative",
        "unknown-gpu",
        "profile-elsewhere",
        "unknown-key",
        "duplicate-gpu-model",
    ],
)
def test_demand_problems_are_named(tmp_path: Path, model: dict[str, object], expected: str) -> None:
    path = tmp_path / "demand.yaml"
    path.write_text(yaml.safe_dump({"models": [model]}))
    with pytest.raises(PlacementInputError) as err:
        load_demand(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)
