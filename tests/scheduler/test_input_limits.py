"""Placement inputs the planner cannot plan in minutes, or that are no numbers, are refused
when read: a PlacementInputError naming the file, the path and the limit, and `place` exits 2
before it plans."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from prewarm_cli.main import app
from scheduler.demand import load_demand
from scheduler.input_errors import PlacementInputError
from scheduler.input_limits import MAX_DEMAND_REPLICAS, MAX_INVENTORY_GPUS
from scheduler.inventory import load_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "placement"


def _write(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _node(name: str, gpus: int) -> dict[str, Any]:
    return {
        "name": name,
        "zone": "us-east-1a",
        "instance_type": "p5.48xlarge",
        "gpus": [{"uuid": f"{name}-{i}", "model": "H100-80GB"} for i in range(gpus)],
    }


def _model(**fields: Any) -> dict[str, Any]:
    return {"models": [{"name": "m", "replicas": 1, **fields}]}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (_model(replicas=1_000_000, mig_profile="1g.10gb"), ["models.0.replicas", "100000"]),
        (_model(replicas=10**12, mig_profile="1g.10gb"), ["models.0.replicas", "100000"]),
        (_model(memory_gib=float("inf")), ["models.0.memory_gib", "finite"]),
        (_model(memory_gib=float("nan")), ["models.0.memory_gib", "finite"]),
        (_model(gpus_per_replica=200_000), ["models.0.gpus_per_replica", "64"]),
        (
            _model(gpus_per_replica=8, nodes_per_replica=1000),
            ["models.0.nodes_per_replica", "64"],
        ),
        (
            {
                "models": [
                    {"name": f"m{i}", "replicas": 60_000, "mig_profile": "1g.10gb"}
                    for i in range(2)
                ]
            },
            ["120,000 replicas in all", f"{MAX_DEMAND_REPLICAS:,} (MAX_DEMAND_REPLICAS)"],
        ),
        (
            _model(replicas=2000, gpus_per_replica=8, nodes_per_replica=8),
            ["128,000 whole GPUs in all", "MAX_DEMAND_GPUS"],
        ),
    ],
    ids=[
        "million-replicas",
        "1e12-replicas",
        "infinite-memory",
        "nan-memory",
        "gpus-per-replica",
        "nodes-per-replica",
        "replicas-in-all",
        "whole-gpus-in-all",
    ],
)
def test_a_demand_past_the_limits_is_refused_naming_file_and_limit(
    tmp_path: Path, data: dict[str, Any], words: list[str]
) -> None:
    path = _write(tmp_path, "demand.yaml", data)
    with pytest.raises(PlacementInputError) as err:
        load_demand(path)
    assert err.value.source == str(path)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"nodes": [_node("big", 200)]}, ["nodes.0.gpus", "200 GPUs on one node", "MAX_GPUS"]),
        (
            {"nodes": [_node(f"n{i}", 64) for i in range(MAX_INVENTORY_GPUS // 64 + 1)]},
            ["100,032 GPUs", "MAX_INVENTORY_GPUS"],
        ),
        (
            {
                "nodes": [
                    {
                        **_node("n", 0),
                        "gpus": [
                            {
                                "uuid": "g",
                                "model": "H100-80GB",
                                "mig": [{"profile": "1g.10gb", "start": 0}] * 50,
                            }
                        ],
                    }
                ]
            },
            ["nodes.0.gpus.0.mig", "at most 7"],
        ),
        (
            {
                "instance_types": [
                    {
                        "name": "t",
                        "zone": "z",
                        "gpu_model": "H100-80GB",
                        "gpus": 200_000,
                        "price_per_hour": 1.0,
                        "available": 1,
                    }
                ]
            },
            ["instance_types.0.gpus", "64"],
        ),
        (
            {
                "instance_types": [
                    {
                        "name": "t",
                        "zone": "z",
                        "gpu_model": "H100-80GB",
                        "gpus": 8,
                        "price_per_hour": float("inf"),
                        "available": 1,
                    }
                ]
            },
            ["instance_types.0.price_per_hour", "finite"],
        ),
    ],
    ids=["gpus-on-one-node", "gpus-in-all", "mig-per-gpu", "type-gpus", "infinite-price"],
)
def test_an_inventory_past_the_limits_is_refused_naming_file_and_limit(
    tmp_path: Path, data: dict[str, Any], words: list[str]
) -> None:
    path = _write(tmp_path, "inventory.yaml", data)
    with pytest.raises(PlacementInputError) as err:
        load_inventory(path)
    assert err.value.source == str(path)
    for word in words:
        assert word in str(err.value)


def test_place_refuses_a_million_replicas_at_once(tmp_path: Path) -> None:
    """Was 120 s and 1.6 GB of planning."""
    demand = _write(tmp_path, "demand.yaml", _model(replicas=1_000_000, mig_profile="1g.10gb"))
    started = time.monotonic()
    result = CliRunner().invoke(
        app,
        ["place", "--inventory", str(EXAMPLES / "inventory.yaml"), "--demand", str(demand)],
    )
    assert result.exit_code == 2, result.output
    assert str(demand) in " ".join(result.output.split())
    assert time.monotonic() - started < 30
