"""The server-side-apply writer against the in-process API server over real HTTP: it writes
the claim templates and ConfigMaps `render_manifests` makes (and the server's schemas accept
them), applies idempotently, reports another manager's conflicting fields and can force them,
retries transient failures with backoff, stops when it is not the leader, and deletes only
what it could put back."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from scheduler.kubernetes.api_calls import call_json
from scheduler.kubernetes.api_resources import CONFIGMAPS, RESOURCE_CLAIM_TEMPLATES, RESOURCE_CLAIMS
from scheduler.kubernetes.backoff import Backoff
from scheduler.kubernetes.manifests import render_manifests
from scheduler.kubernetes.ssa_writer import (
    FIELD_MANAGER,
    ApplyConflict,
    FieldConflict,
    NotLeader,
    SsaWriter,
)
from tests.kube_api_server import ApiServer, serve_api
from tests.kube_api_server import resources as served
from tests.scheduler_kubernetes.dra_devices import recorded
from tests.scheduler_kubernetes.live_api import RecordingSleep
from tests.scheduler_kubernetes.plans import mixed_plan

NS = "llm"


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    async with serve_api() as api_server:
        yield api_server


def writer(api: Any, sleep: RecordingSleep, **kwargs: Any) -> SsaWriter:
    return SsaWriter(api, backoff=Backoff(sleep=sleep, rng=random.Random(3)), **kwargs)


def configmap(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "ConfigMap")


def managers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["manager"]: e["fieldsV1"] for e in obj["metadata"]["managedFields"]}


async def test_applies_the_rendered_plan_and_a_second_apply_changes_nothing(
    server: ApiServer,
) -> None:
    objects = render_manifests(mixed_plan(), namespace=NS)
    assert {o["kind"] for o in objects} == {"ResourceClaimTemplate", "ConfigMap"}
    async with server.client() as api:
        ssa = writer(api, RecordingSleep())
        first = [await ssa.apply(o) for o in objects]
        again = [await ssa.apply(o) for o in objects]
    assert [o["metadata"]["resourceVersion"] for o in again] == [
        o["metadata"]["resourceVersion"] for o in first
    ]
    for sent, stored in zip(objects, first, strict=True):
        assert stored["metadata"]["uid"]
        assert managers(stored).keys() == {FIELD_MANAGER}
        if sent["kind"] == "ConfigMap":
            assert stored["data"] == sent["data"]
        else:
            assert stored["spec"] == sent["spec"]
    assert [e["operation"] for e in first[0]["metadata"]["managedFields"]] == ["Apply"]


async def test_reports_another_managers_fields_keeps_theirs_and_can_force(
    server: ApiServer,
) -> None:
    ours = configmap(render_manifests(mixed_plan(), namespace=NS))
    path = CONFIGMAPS.object_path(NS, ours["metadata"]["name"])
    async with server.client() as api, server.client() as kubectl:
        ssa = writer(api, RecordingSleep())
        await ssa.apply(ours)
        # An operator labels it (theirs alone) and edits our data (a conflict) with kubectl.
        theirs = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": ours["metadata"]["name"],
                "namespace": NS,
                "labels": {"team": "inference"},
            },
            "data": {"placement.json": "{}"},
        }
        await call_json(
            kubectl,
            "PATCH",
            path,
            body=theirs,
            content_type="application/apply-patch+yaml",
            query=[("fieldManager", "kubectl"), ("force", "true")],
        )
        with pytest.raises(ApplyConflict) as caught:
            await ssa.apply(ours)
        assert caught.value.conflicts == (FieldConflict("kubectl", ".data.placement.json"),)

        stored = await ssa.apply(ours, force=True)
    assert json.loads(stored["data"]["placement.json"]) == json.loads(
        ours["data"]["placement.json"]
    )
    assert stored["metadata"]["labels"]["team"] == "inference"  # not ours: left alone
    owners = managers(stored)
    assert "f:data" in owners[FIELD_MANAGER]
    assert owners["kubectl"] == {"f:metadata": {"f:labels": {"f:team": {}}}}


async def test_retries_transient_failures_with_backoff(server: ApiServer) -> None:
    ours = configmap(render_manifests(mixed_plan(), namespace=NS))
    sleep = RecordingSleep()
    server.faults.inject(500, times=2, method="PATCH")
    server.faults.inject(429, times=1, method="PATCH", retry_after_s=3)
    server.faults.inject(409, times=1, method="PATCH")  # a storage race, no field conflicts
    async with server.client() as api:
        stored = await writer(api, sleep).apply(ours)
    assert stored["data"] == ours["data"]
    assert len(sleep.delays) == 4
    assert sleep.delays[0] <= 0.5 and sleep.delays[1] <= 1.0
    assert sleep.delays[2] >= 3.0  # Retry-After
    statuses = [r.status for r in server.faults.requests("PATCH")]
    assert statuses == [500, 500, 429, 409, 201]


async def test_gives_up_after_max_attempts_and_never_retries_a_422(server: ApiServer) -> None:
    ours = configmap(render_manifests(mixed_plan(), namespace=NS))
    sleep = RecordingSleep()
    server.faults.inject(503, times=10, method="PATCH")
    async with server.client() as api:
        with pytest.raises(ApiException) as caught:
            await writer(api, sleep, max_attempts=3).apply(ours)
        assert caught.value.status == 503 and len(sleep.delays) == 2
        server.faults.pending.clear()

        bad = {**ours, "metadata": {**ours["metadata"], "labels": {"x": "not a label value!"}}}
        with pytest.raises(ApiException) as invalid:
            await writer(api, sleep).apply(bad)
    assert invalid.value.status == 422 and len(sleep.delays) == 2


async def test_a_replica_that_is_not_the_leader_writes_nothing(server: ApiServer) -> None:
    ours = configmap(render_manifests(mixed_plan(), namespace=NS))
    async with server.client() as api:
        with pytest.raises(NotLeader):
            await writer(api, RecordingSleep(), may_write=lambda: False).apply(ours)
    assert server.faults.requests("PATCH") == []


async def test_deletes_only_what_it_could_recreate(server: ApiServer) -> None:
    objects = render_manifests(mixed_plan(), namespace=NS)
    templates = [o for o in objects if o["kind"] == "ResourceClaimTemplate"]
    # Recorded: a claim generated from one of our templates, allocated to a running pod.
    claim = recorded("resourceclaims.json")["items"][0]
    server.seed(served.RESOURCE_CLAIMS, claim)
    async with server.client() as api, server.client() as other:
        ssa = writer(api, RecordingSleep())
        for template in templates[:2]:
            await ssa.apply(template)
        name0, name1 = (t["metadata"]["name"] for t in templates[:2])
        # Someone else also wrote to the second template.
        path1 = RESOURCE_CLAIM_TEMPLATES.object_path(NS, name1)
        await call_json(
            other,
            "PATCH",
            path1,
            query=[("fieldManager", "kubectl")],
            content_type="application/merge-patch+json",
            body={"metadata": {"annotations": {"note": "keep"}}},
        )
        assert await ssa.delete_if_recreatable(RESOURCE_CLAIM_TEMPLATES, NS, name0) is None
        refused = await ssa.delete_if_recreatable(RESOURCE_CLAIM_TEMPLATES, NS, name1)
        held = await ssa.delete_if_recreatable(RESOURCE_CLAIMS, NS, claim["metadata"]["name"])
        gone = await ssa.delete_if_recreatable(RESOURCE_CLAIM_TEMPLATES, NS, name0)
    assert refused == "also written by kubectl"
    assert held == "allocated or reserved: a pod holds its devices"
    assert gone == "already gone"
    remaining = {name for (plural, _, name) in server.store.objects}
    assert name1 in remaining and claim["metadata"]["name"] in remaining
    assert name0 not in remaining
