"""The placement loop's seams: the decision board (registry listener -> demand), the
`placement:` section of the serve config (errors named like the rest), the plan read back
from the ConfigMaps the diff writes, and the webhook's ConfigMap store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from autoscaler.profile import ProfileError
from autoscaler.serve_config import load_serve_config
from prewarm_cli.placement import DecisionBoard
from scheduler.controller.diff import placement_diff, plan_index
from scheduler.controller.scale_demand import ModelScale
from scheduler.kubernetes.api_calls import call_json
from scheduler.kubernetes.api_resources import CONFIGMAPS
from scheduler.kubernetes.configmap_plan_store import ConfigMapPlanStore
from scheduler.kubernetes.controller_config import placement_problems
from scheduler.kubernetes.manifests import PLAN_KEY, render_manifests
from scheduler.kubernetes.plan_configmaps import plan_from_configmaps
from tests.kube_api_server import ApiServer, serve_api
from tests.scheduler_kubernetes.live_api import RecordingSleep, running, wait_until
from tests.scheduler_kubernetes.placement_cluster import (
    LLAMA_8B,
    LLAMA_70B,
    NS,
    decision,
    tracked,
)
from tests.scheduler_kubernetes.plans import LLAMA_405B, QWEN, mixed_plan


# --- the decision board --------------------------------------------------------------------
def test_the_board_keeps_each_models_latest_decision_and_pokes_only_on_news() -> None:
    pokes: list[int] = []
    board = DecisionBoard(lambda: pokes.append(1))
    board(tracked(LLAMA_8B, "llm/llama-8b"), decision(4, 9))
    board(tracked(LLAMA_8B, "llm/llama-8b"), decision(4, 9, 30.0))  # same answer: no news
    assert len(pokes) == 1
    (only,) = board.decisions().items()
    assert only[0] == LLAMA_8B and only[1].scale == ModelScale(4, 9)
    assert only[1].workload is not None
    assert (only[1].workload.kind, only[1].workload.namespace, only[1].workload.name) == (
        "ScaledObject",
        "llm",
        "llama-8b",
    )
    # Two ScaledObjects of one model (two namespaces): their replicas add up.
    board(tracked(LLAMA_8B, "team-b/llama-8b"), decision(2, 3))
    assert board.decisions()[LLAMA_8B].scale == ModelScale(6, 12)
    # A dropped ScaledObject leaves the board; a model with none left has no decision, so
    # the loop holds its last plan's replicas rather than shrink for want of data.
    board.forget(tracked(LLAMA_8B, "team-b/llama-8b"))
    board.forget(tracked(LLAMA_8B, "llm/llama-8b"))
    board.forget(tracked(LLAMA_70B, "llm/llama-70b"))  # never seen: no news
    assert board.decisions() == {} and len(pokes) == 4


# --- the serve config's placement: section ---------------------------------------------------
def write_config(tmp_path: Path, placement: object) -> Path:
    path = tmp_path / "prewarm.yaml"
    path.write_text(yaml.safe_dump({"placement": placement, "grpc": {"port": 9090}}))
    return path


@pytest.mark.parametrize(
    ("placement", "expected"),
    [
        pytest.param(
            {"models": {"m": {"mig_profile": "3g.40gb"}}, "debounce_s": -1, "lese": {}},
            ["placement.debounce_s: Input should be greater", "placement.lese: unknown key"],
            id="shape",
        ),
        pytest.param(
            {
                "models": {"m": {"mig_profile": "3g.40gb"}},
                "instance_types": [{"name": "p5.48xlarge", "zone": "a", "gpu_model": "H100-80GB"}],
            },
            ["placement.instance_types.0.gpus: Field required"],
            id="instance-type",
        ),
        pytest.param(
            {"models": {"m": {"mig_profile": "9g.1gb"}}},
            ["placement.models.m.mig_profile: '9g.1gb' exists on no catalog GPU"],
            id="meaning",
        ),
        pytest.param(
            {"lease": {"duration_s": 5, "renew_deadline_s": 10}},
            ["placement.lease: need retry_period_s < renew_deadline_s < duration_s"],
            id="lease",
        ),
    ],
)
def test_a_bad_placement_section_is_refused_naming_each_key(
    tmp_path: Path, placement: object, expected: list[str]
) -> None:
    path = write_config(tmp_path, placement)
    with pytest.raises(ProfileError) as caught:
        load_serve_config(path, {"placement": placement_problems})
    for line in expected:
        assert line in str(caught.value), str(caught.value)


def test_serve_check_reports_placement_errors_with_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "prewarm.yaml"
    path.write_text(
        yaml.safe_dump({"grpc": {"port": -1}, "placement": {"models": {"m": {"gpus": 2}}}})
    )
    from typer.testing import CliRunner

    from prewarm_cli import app

    result = CliRunner().invoke(app, ["serve", "--config", str(path), "--check"])
    assert result.exit_code == 2, result.output
    assert "grpc.port" in result.output
    assert "placement.models.m.gpus: unknown key" in result.output


def test_a_valid_placement_section_is_kept_for_the_cli(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"namespace": "llm", "models": {"m": {"memory_gib": 30}}})
    config, _ = load_serve_config(path, {"placement": placement_problems})
    assert config.placement == {"namespace": "llm", "models": {"m": {"memory_gib": 30}}}


# --- the plan read back from its ConfigMaps ---------------------------------------------------
def configmaps_of(plan: object) -> list[dict[str, object]]:
    objects = render_manifests(plan, namespace=NS)  # type: ignore[arg-type]
    return sorted(
        (o for o in objects if o["kind"] == "ConfigMap"), key=lambda o: o["metadata"]["name"]
    )


def test_the_configmaps_hold_the_plan_a_new_leader_continues_from() -> None:
    plan = mixed_plan()
    stored = plan_from_configmaps(configmaps_of(plan))
    assert not stored.problems
    assert plan_index(stored.plan) == plan_index(plan)
    assert not stored.plan.unplaced  # `place` renders no ConfigMap for mistral (none placed)
    # What a reconcile would write from the read-back plan to the same plan: nothing.
    models = [LLAMA_8B_MIXED, QWEN, LLAMA_405B]
    diff = placement_diff(stored.plan, stored.plan.extra["models"], plan, models, NS)
    assert diff.empty, diff.to_json()


LLAMA_8B_MIXED = "meta-llama/Llama-3.1-8B"


def test_a_configmap_without_its_plan_is_skipped_with_the_reason() -> None:
    configmaps = configmaps_of(mixed_plan())
    del configmaps[0]["data"][PLAN_KEY]  # type: ignore[attr-defined]
    configmaps[1]["data"][PLAN_KEY] = "{not json"  # type: ignore[index]
    stored = plan_from_configmaps(configmaps)
    assert len(stored.problems) == 2 and len(stored.skipped) == 2
    assert "no plan.json" in stored.problems[0] and "plan.json" in stored.problems[1]


# --- the webhook's ConfigMap store -------------------------------------------------------------
@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    async with serve_api() as api_server:
        yield api_server


async def test_the_webhook_store_follows_the_configmaps_and_keeps_a_bad_ones_last_placement(
    server: ApiServer,
) -> None:
    configmaps = configmaps_of(mixed_plan())
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}, "data": {}}
    async with server.client() as api:  # the controller's, and one that is not (no label)
        for cm in [*configmaps, other]:
            await call_json(api, "POST", CONFIGMAPS.collection_path(NS), body=cm)
    store = ConfigMapPlanStore(server.client, NS, sleep=RecordingSleep())
    async with running(store.watch()):
        await wait_until(lambda: store.current is not None, "the first list")
        assert store.current is not None
        first = store.current
        assert set(first.placements) == {LLAMA_8B_MIXED, QWEN, LLAMA_405B}
        assert first.find("meta-llama-Llama-3.1-8B") is first.placements[LLAMA_8B_MIXED]
        assert store.last_error is None

        # Someone breaks qwen's ConfigMap: its last good placement stays, the error shows.
        qwen = next(c for c in configmaps if "qwen" in c["metadata"]["name"])  # type: ignore[index]
        path = CONFIGMAPS.object_path(NS, qwen["metadata"]["name"])  # type: ignore[index]
        async with server.client() as api:
            await call_json(
                api,
                "PATCH",
                path,
                body={"data": {PLAN_KEY: "[]"}},
                content_type="application/merge-patch+json",
            )
            await wait_until(lambda: store.last_error is not None, "the bad ConfigMap seen")
            assert store.current.placements[QWEN] == first.placements[QWEN]
            # The controller deletes the ConfigMap of a model that left its settings.
            await call_json(api, "DELETE", path)
            await wait_until(lambda: QWEN not in store.current.placements, "the deletion seen")
    assert store.current.generation == first.generation + 1
