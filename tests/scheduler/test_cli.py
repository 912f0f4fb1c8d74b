"""`prewarm place` through typer's runner: files written, table printed, bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import pytest
from typer.testing import CliRunner

from prewarm_cli.main import app
from scheduler.kubernetes import manifests
from scheduler.kubernetes.placement import PlanError

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "placement"
RUNNER = CliRunner()


def example_place_args(out: Path) -> list[str]:
    inventory, demand = str(EXAMPLES / "inventory.yaml"), str(EXAMPLES / "demand.yaml")
    return ["place", "--inventory", inventory, "--demand", demand, "--out", str(out)]


def test_place_writes_plan_and_manifests(tmp_path: Path) -> None:
    out = tmp_path / "place"
    result = RUNNER.invoke(
        app,
        [
            "place",
            "--inventory",
            str(EXAMPLES / "inventory.yaml"),
            "--demand",
            str(EXAMPLES / "demand.yaml"),
            "--out",
            str(out),
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    plan = json.loads((out / "plan.json").read_text())
    for key in (
        "gpus_used",
        "lower_bound_gpus",
        "cost_per_hour",
        "moves",
        "assignments",
        "unplaced",
    ):
        assert key in plan
    for key in ("replica", "model", "node", "gpu", "profile", "start", "instance_type", "zone"):
        assert key in plan["assignments"][0]
    assert plan["gpus_used"] >= plan["lower_bound_gpus"] > 0
    assert (
        "Placement plan" in result.output
        and "fell back to p5.48xlarge in us-east-1b" in result.output
    )
    kustomization = (out / "manifests" / "kustomization.yaml").read_text()
    assert "resourceclaimtemplate-" in kustomization


def test_json_flag_prints_the_plan(tmp_path: Path) -> None:
    result = RUNNER.invoke(
        app,
        [
            "place",
            "--inventory",
            str(EXAMPLES / "inventory.yaml"),
            "--demand",
            str(EXAMPLES / "demand.yaml"),
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0
    printed = json.loads(result.stdout)
    assert printed == json.loads((tmp_path / "plan.json").read_text())


def test_bad_input_exits_2_with_every_problem(tmp_path: Path) -> None:
    demand = tmp_path / "demand.yaml"
    demand.write_text(
        "models:\n  - {name: m, replicas: 1}\n  - {name: n, replicas: -1, mig_profile: 3g.40gb}\n"
    )
    result = RUNNER.invoke(
        app,
        [
            "place",
            "--inventory",
            str(EXAMPLES / "inventory.yaml"),
            "--demand",
            str(demand),
            "--out",
            str(tmp_path / "o"),
        ],
        terminal_width=200,
    )
    assert result.exit_code == 2
    assert f"{demand}: 2 problems" in result.output
    assert "models.0: give exactly one of" in result.output
    assert "models.1.replicas: Input should be greater than or equal to 0" in result.output
    assert not (tmp_path / "o" / "plan.json").exists()


def test_tables_fit_an_80_column_terminal_without_abridging_names(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, example_place_args(tmp_path / "place"), env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    plan = json.loads((tmp_path / "place" / "plan.json").read_text())
    tables = result.output.split("  - ")[0]  # the reasons below may wrap as they like
    assert max(len(line) for line in tables.splitlines()) <= 80
    assert "…" not in tables
    for a in plan["assignments"]:
        assert a["replica"] in tables and a["instance_type"] in tables and a["zone"] in tables


def test_duplicate_gpu_model_exits_2_naming_it(tmp_path: Path) -> None:
    demand = tmp_path / "demand.yaml"
    demand.write_text(
        "models:\n  - {name: m, replicas: 4, mig_profile: 3g.40gb,"
        " gpu_models: [H100-80GB, H100-80GB]}\n"
    )
    args = ["place", "--inventory", str(EXAMPLES / "inventory.yaml"), "--demand", str(demand)]
    result = RUNNER.invoke(app, [*args, "--out", str(tmp_path / "o")], terminal_width=200)
    assert result.exit_code == 2, result.output
    assert "models.0.gpu_models: 'H100-80GB' listed more than once for model 'm'" in result.output
    assert not (tmp_path / "o" / "plan.json").exists()


# Two running 3g.40gb replicas on two GPUs: defragmenting moves one and frees a GPU.
DEFRAG_INVENTORY = """\
nodes:
  - name: n
    zone: a
    instance_type: p5
    gpus:
      - uuid: GPU-0
        model: H100-80GB
        mig: [{profile: 3g.40gb, start: 0, in_use: true, model: m, replica: m-0}]
      - uuid: GPU-1
        model: H100-80GB
        mig: [{profile: 3g.40gb, start: 0, in_use: true, model: m, replica: m-1}]
"""


@pytest.mark.parametrize(
    ("demand_allows", "flags", "moves"),
    [
        (True, [], 1),
        (True, ["--no-allow-defragment"], 0),
        (False, ["--allow-defragment"], 1),
        (False, [], 0),
    ],
    ids=["demand-yes", "flag-no-overrides", "flag-yes-overrides", "demand-no"],
)
def test_defragment_flag_overrides_the_demand_either_way(
    tmp_path: Path, demand_allows: bool, flags: list[str], moves: int
) -> None:
    inventory, demand = tmp_path / "inventory.yaml", tmp_path / "demand.yaml"
    inventory.write_text(DEFRAG_INVENTORY)
    demand.write_text(
        f"allow_defragment: {str(demand_allows).lower()}\n"
        "models:\n  - {name: m, replicas: 2, mig_profile: 3g.40gb}\n"
    )
    args = ["place", "--inventory", str(inventory), "--demand", str(demand), "--json"]
    result = RUNNER.invoke(app, [*args, "--out", str(tmp_path / "o"), *flags])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["moves"] == moves


def test_a_plan_the_manifests_reject_leaves_the_previous_output_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "place"
    assert RUNNER.invoke(app, example_place_args(out)).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def reject(*_: object, **__: object) -> NoReturn:
        raise PlanError("models 'a' and 'b' both map to object name 'x'")

    monkeypatch.setattr(manifests, "render_manifests", reject)
    demand = tmp_path / "demand.yaml"  # a new demand: its plan.json would differ
    demand.write_text("models:\n  - {name: m, replicas: 1, mig_profile: 1g.10gb}\n")
    args = ["place", "--inventory", str(EXAMPLES / "inventory.yaml"), "--demand", str(demand)]
    result = RUNNER.invoke(app, [*args, "--out", str(out)], terminal_width=200)
    assert result.exit_code == 1
    assert "manifests: models 'a' and 'b' both map" in result.output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
