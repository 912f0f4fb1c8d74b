"""Writing a reconcile turn's PlacementDiff to the in-process API server: templates before
ConfigMaps, an operator's edit reported then overridden, deletions only of what the
controller alone wrote, and a failed template stopping the turn before any ConfigMap."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from scheduler.controller.diff import PlacementDiff
from scheduler.kubernetes.api_calls import call_json
from scheduler.kubernetes.api_resources import CONFIGMAPS, RESOURCE_CLAIM_TEMPLATES
from scheduler.kubernetes.backoff import Backoff
from scheduler.kubernetes.diff_writer import write_diff
from scheduler.kubernetes.manifests import render_manifests
from scheduler.kubernetes.ssa_writer import FieldConflict, SsaWriter
from tests.kube_api_server import ApiServer, serve_api
from tests.scheduler_kubernetes.live_api import RecordingSleep
from tests.scheduler_kubernetes.plans import mixed_plan

NS = "llm"
MERGE = "application/merge-patch+json"


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    async with serve_api() as api_server:
        yield api_server


def diff_of_mixed_plan(delete: tuple[tuple[str, str], ...] = ()) -> PlacementDiff:
    objects = render_manifests(mixed_plan(), namespace=NS)
    return PlacementDiff(
        templates=tuple(o for o in objects if o["kind"] == "ResourceClaimTemplate"),
        configmaps=tuple(o for o in objects if o["kind"] == "ConfigMap"),
        delete=delete,
    )


def writer(api: object) -> SsaWriter:
    backoff = Backoff(sleep=RecordingSleep(), rng=random.Random(1))
    return SsaWriter(api, backoff=backoff, max_attempts=2)  # type: ignore[arg-type]


async def test_writes_in_order_overrides_an_edit_and_deletes_only_its_own(
    server: ApiServer,
) -> None:
    first = diff_of_mixed_plan()
    async with server.client() as api, server.client() as kubectl:
        report = await write_diff(writer(api), first, NS)
        assert len(report.applied) == len(first.templates) + len(first.configmaps)
        patches = [r.path for r in server.faults.requests("PATCH")]
        kinds = ["configmaps" if "/configmaps/" in p else "templates" for p in patches]
        assert kinds == sorted(kinds, key=lambda k: k == "configmaps")  # templates first

        cm = first.configmaps[0]["metadata"]["name"]
        old, kept = (t["metadata"]["name"] for t in first.templates[:2])
        # An operator edits the ConfigMap's data and annotates one template.
        await call_json(
            kubectl,
            "PATCH",
            CONFIGMAPS.object_path(NS, cm),
            content_type=MERGE,
            query=[("fieldManager", "kubectl-edit")],
            body={"data": {"placement.json": "{}"}},
        )
        await call_json(
            kubectl,
            "PATCH",
            RESOURCE_CLAIM_TEMPLATES.object_path(NS, kept),
            content_type=MERGE,
            query=[("fieldManager", "kubectl-annotate")],
            body={"metadata": {"annotations": {"ticket": "OPS-1"}}},
        )
        second = PlacementDiff(
            configmaps=first.configmaps,
            delete=(
                ("ResourceClaimTemplate", old),
                ("ResourceClaimTemplate", kept),
                ("ResourceClaimTemplate", "never-existed"),
                ("Deployment", "vllm"),
            ),
        )
        report = await write_diff(writer(api), second, NS)
        stored = await call_json(api, "GET", CONFIGMAPS.object_path(NS, cm))

    assert report.overridden == [
        (f"ConfigMap/{cm}", FieldConflict("kubectl-edit", ".data.placement.json"))
    ]
    assert stored["data"] == first.configmaps[0]["data"]
    assert report.deleted == [f"ResourceClaimTemplate/{old}"]
    assert report.kept == [
        (f"ResourceClaimTemplate/{kept}", "also written by kubectl-annotate"),
        ("Deployment/vllm", "not a kind the controller deletes"),
    ]


async def test_a_failed_template_stops_the_turn_before_any_configmap(server: ApiServer) -> None:
    server.faults.inject(403, times=1, method="PATCH", path_contains="resourceclaimtemplates")
    async with server.client() as api:
        with pytest.raises(ApiException) as caught:
            await write_diff(writer(api), diff_of_mixed_plan(), NS)
    assert caught.value.status == 403
    assert server.faults.requests("PATCH", "/configmaps/") == []
