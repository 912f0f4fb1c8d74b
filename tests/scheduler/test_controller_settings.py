"""Placement settings validated at the edge, and the scaler's decisions turned into demand."""

from __future__ import annotations

import pytest

from autoscaler.decision import Decision
from scheduler.controller.scale_demand import ModelScale, demand_from_scale, planned_replicas
from scheduler.controller.settings import ControllerSettings, settings_from_dict
from scheduler.demand import ModelDemand
from scheduler.input_errors import PlacementInputError
from scheduler.plan import Assignment, Plan, Unplaced

GOOD = {
    "namespace": "llm-serving",
    "models": {
        "meta-llama/Llama-3.1-8B": {"mig_profile": "3g.40gb", "gpu_models": ["H100-80GB"]},
        "Qwen/Qwen2.5-7B-Instruct": {"memory_gib": 30},
        "meta-llama/Llama-3.1-405B": {"gpus_per_replica": 8, "nodes_per_replica": 2},
    },
}


def test_good_settings_load_and_become_model_demands() -> None:
    settings = settings_from_dict(GOOD)
    assert settings.namespace == "llm-serving" and not settings.allow_defragment
    need = settings.models["meta-llama/Llama-3.1-405B"]
    assert need.model_demand("meta-llama/Llama-3.1-405B", 3) == ModelDemand(
        "meta-llama/Llama-3.1-405B", 3, gpus_per_replica=8, nodes_per_replica=2
    )


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        (
            {"models": {"m": {"mig_profile": "3g.40gb", "memory_gib": 30}}},
            [
                "models.m: give exactly one of mig_profile, memory_gib, gpus_per_replica "
                "(got mig_profile, memory_gib)"
            ],
        ),
        (
            {"models": {"m": {"mig_profile": "3g.40gb", "gpu_models": ["L4"]}}},
            ["models.m.gpu_models: unknown GPU model(s) 'L4'; known: "],
        ),
        (
            {"models": {"m": {"mig_profile": "3g.40gb", "gpu_models": ["A30-24GB"]}}},
            ["models.m.mig_profile: '3g.40gb' exists on "],
        ),
        (
            {"models": {"m": {"memory_gib": 30, "nodes_per_replica": 2}}},
            ["models.m: nodes_per_replica goes with gpus_per_replica"],
        ),
        (
            {"models": {"m": {"memory_gib": -1}}, "exact_time_limit_s": 0},
            ["models.m.memory_gib: Input should be greater than 0", "exact_time_limit_s: "],
        ),
        (
            {"modles": {}, "health": {"max_age_s": 0, "colour": 1}},
            ["health.max_age_s: ", "health.colour: unknown key", "modles: unknown key"],
        ),
    ],
    ids=[
        "two-needs",
        "unknown-gpu",
        "profile-not-on-allowed",
        "nodes-alone",
        "all-at-once",
        "keys",
    ],
)
def test_bad_settings_name_every_bad_field(data: dict[str, object], problems: list[str]) -> None:
    with pytest.raises(PlacementInputError) as raised:
        settings_from_dict(data, "prewarm.yaml: placement")
    got = raised.value.problems
    assert len(got) == len(problems), got
    for expected in problems:
        assert any(p.startswith(expected) for p in got), (expected, got)
    assert str(raised.value).startswith("prewarm.yaml: placement: ")


def test_a_mig_profile_on_no_allowed_gpu_says_where_it_exists() -> None:
    with pytest.raises(PlacementInputError) as raised:
        settings_from_dict(
            {"models": {"m": {"mig_profile": "3g.40gb", "gpu_models": ["A30-24GB"]}}}
        )
    (problem,) = raised.value.problems
    assert "H100-80GB" in problem and problem.endswith("not on A30-24GB")


@pytest.mark.parametrize(
    ("now", "horizon", "placed"),
    [(4, 9, 9), (6, 2, 6), (0, 0, 0), (0, 3, 3)],
    ids=["rise-ahead", "dip-holds", "zero", "from-zero"],
)
def test_demand_places_max_of_now_and_forecast(now: int, horizon: int, placed: int) -> None:
    settings = settings_from_dict(GOOD)
    demand, _ = demand_from_scale({"Qwen/Qwen2.5-7B-Instruct": ModelScale(now, horizon)}, settings)
    qwen = next(m for m in demand.models if m.name == "Qwen/Qwen2.5-7B-Instruct")
    assert (qwen.replicas, qwen.memory_gib) == (placed, 30)


def test_demand_from_decisions_and_what_has_none() -> None:
    settings = settings_from_dict({**GOOD, "allow_defragment": True})
    decision = Decision(0.0, replicas=4, reason="", forecast_replicas=9)
    previous = Plan(
        0,
        0,
        0.0,
        0,
        (
            Assignment(
                "q-0", "Qwen/Qwen2.5-7B-Instruct", "n", "g", "H100-80GB", "3g.40gb", 0, "", ""
            ),
        ),
        (Unplaced("q-1", "Qwen/Qwen2.5-7B-Instruct", "no room"),),
    )
    assert planned_replicas(previous) == {"Qwen/Qwen2.5-7B-Instruct": 2}
    scales = {
        "meta-llama/Llama-3.1-8B": ModelScale.from_decision(decision),
        "unknown/model": ModelScale(2, 2),
    }
    demand, reasons = demand_from_scale(scales, settings, previous)
    assert demand.allow_defragment
    assert [(m.name, m.replicas) for m in demand.models] == [
        ("meta-llama/Llama-3.1-8B", 9),
        ("Qwen/Qwen2.5-7B-Instruct", 2),  # no decision yet: the last plan's 2 hold
        ("meta-llama/Llama-3.1-405B", 0),
    ]
    assert reasons == (
        "meta-llama/Llama-3.1-8B: places 9 = max(4 now, 9 forecast at the horizon)",
        "Qwen/Qwen2.5-7B-Instruct: no scaler decision yet; holds the last plan's 2 replica(s)",
        "meta-llama/Llama-3.1-405B: no scaler decision yet; holds the last plan's 0 replica(s)",
        "unknown/model: no placement settings; not placed",
    )


def test_the_exact_solver_is_left_out_on_large_fleets() -> None:
    settings = ControllerSettings(exact_max_replicas=50, exact_max_gpus=256)
    assert settings.placement_options(gpus=256).exact_max_replicas == 50
    assert settings.placement_options(gpus=257).exact_max_replicas == 0
    closed = frozenset({"GPU-1"})
    assert settings.placement_options(closed).closed_gpus == closed
