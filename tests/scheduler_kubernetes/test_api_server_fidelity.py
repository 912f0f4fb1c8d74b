"""The in-process API server itself: what it stores validates against kubernetes-validate's
schemas (checked here with the library's own `validate`, not the server's cached copy), it
refuses invalid objects with 422 as kube-apiserver does, and its wire answers have the real
shapes (list items without kind, 410 Gone as a watch ERROR event, 409 reasons, 415)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes_validate
import pytest
import yaml

from tests.kube_api_server import ApiServer, serve_api
from tests.kube_api_server import resources as served
from tests.kube_api_server.server import TOKEN
from tests.kube_api_server.validation import KUBERNETES_VERSION
from tests.scheduler_kubernetes.dra_devices import recorded

DRA_EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "dra_examples.yaml"
RECORDED = {
    served.NODES: "nodes.json",
    served.PODS: "pods.json",
    served.RESOURCE_SLICES: "resourceslices.json",
    served.RESOURCE_CLAIMS: "resourceclaims.json",
}
BY_KIND = {r.kind: r for r in served.ALL}


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    async with serve_api() as api_server:
        yield api_server


@pytest.fixture
async def http(server: ApiServer) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(server.url, headers=headers) as session:
        yield session


def dra_examples() -> list[dict[str, Any]]:
    """NVIDIA DRA driver examples from its docs (../shared/reference), the kinds we serve."""
    if not DRA_EXAMPLES.exists():  # ../shared lives beside the project, not in it
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {DRA_EXAMPLES} is absent")
        pytest.skip(f"{DRA_EXAMPLES} is absent")
    docs = [d for d in yaml.safe_load_all(DRA_EXAMPLES.read_text()) if d]
    return [d for d in docs if d["kind"] in BY_KIND]


def validate(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


async def create(http: aiohttp.ClientSession, obj: dict[str, Any]) -> Any:
    resource = BY_KIND[obj["kind"]]
    ns = obj["metadata"].get("namespace") or "llm"
    path = resource.collection_path(ns if resource.namespaced else None)
    async with http.post(path, json=obj) as response:
        return response.status, await response.json()


async def test_recorded_and_documented_objects_are_accepted_and_stored_valid(
    server: ApiServer, http: aiohttp.ClientSession
) -> None:
    sent = []
    for resource, name in RECORDED.items():
        for item in recorded(name)["items"]:
            obj = {"apiVersion": resource.api_version, "kind": resource.kind, **item}
            obj["metadata"] = {
                k: v for k, v in item["metadata"].items() if k not in ("resourceVersion", "uid")
            }
            sent.append(obj)
    sent += dra_examples()
    for obj in sent:
        status, body = await create(http, obj)
        assert status == 201, body["message"]
    assert len(server.store.objects) == len(sent)
    for obj in server.store.objects.values():
        validate(obj)  # as stored, with the server's own metadata and managedFields


def _unknown_device_field(o: dict[str, Any]) -> None:
    o["spec"]["devices"][0]["atributes"] = o["spec"]["devices"][0].pop("attributes")


BROKEN = {
    # (kind, breakage, the field the 422 names, whether the schemas alone catch it)
    "slice-misspelt-field": ("ResourceSlice", _unknown_device_field, "atributes", True),
    "slice-without-driver": ("ResourceSlice", lambda o: o["spec"].pop("driver"), "driver", True),
    "claim-count-as-string": (
        "ResourceClaimTemplate",
        lambda o: o["spec"]["spec"]["devices"]["requests"][0]["exactly"].update(count="1"),
        "count",
        True,
    ),
    "pod-without-containers": ("Pod", lambda o: o["spec"].pop("containers"), "containers", True),
    # Checked by the real server's validation code, not its OpenAPI schema: by hand here.
    "bad-name": ("Pod", lambda o: o["metadata"].update(name="Not_A_Name"), "metadata.name", False),
    "bad-label-value": (
        "Pod",
        lambda o: o["metadata"].update(labels={"a": "x y"}),
        "metadata.labels.a",
        False,
    ),
}


@pytest.mark.parametrize(("kind", "breakage", "field", "in_schema"), BROKEN.values(), ids=BROKEN)
async def test_an_invalid_object_is_refused_with_422(
    server: ApiServer,
    http: aiohttp.ClientSession,
    kind: str,
    breakage: Any,
    field: str,
    in_schema: bool,
) -> None:
    # The first documented example of the kind with devices (the counters slice has none).
    obj = next(d for d in dra_examples() if d["kind"] == kind and "sharedCounters" not in d["spec"])
    breakage(obj)
    if in_schema:
        with pytest.raises(kubernetes_validate.ValidationError):
            validate(obj)
    else:
        validate(obj)
    rv = server.store.rv
    status, body = await create(http, obj)
    assert status == 422
    assert body["kind"] == "Status" and body["reason"] == "Invalid" and body["code"] == 422
    assert any(field in c["field"] or field in c["message"] for c in body["details"]["causes"])
    assert server.store.rv == rv and not server.store.objects  # nothing stored


async def test_list_items_carry_no_kind_and_the_list_has_a_resource_version(
    server: ApiServer, http: aiohttp.ClientSession
) -> None:
    server.seed(served.NODES, *recorded("nodes.json")["items"])
    async with http.get("/api/v1/nodes", params={"limit": "2"}) as response:
        page = await response.json()
    assert page["kind"] == "NodeList" and page["apiVersion"] == "v1"
    assert page["metadata"]["resourceVersion"] == str(server.store.rv)
    assert page["metadata"]["remainingItemCount"] == 3
    assert all("kind" not in i and "apiVersion" not in i for i in page["items"])
    server.store.create(served.CONFIGMAPS, "llm", {"metadata": {"name": "later"}}, "test")
    server.compact()  # the revision the first page was read at is gone
    token = page["metadata"]["continue"]
    async with http.get("/api/v1/nodes", params={"limit": "2", "continue": token}) as response:
        assert response.status == 410
        assert (await response.json())["reason"] == "Expired"


async def test_a_watch_from_a_compacted_version_is_an_error_event_with_410(
    server: ApiServer, http: aiohttp.ClientSession
) -> None:
    server.seed(served.NODES, *recorded("nodes.json")["items"])
    old = server.store.rv - 2
    server.compact()
    query = {"watch": "1", "resourceVersion": str(old), "allowWatchBookmarks": "true"}
    async with http.get("/api/v1/nodes", params=query) as response:
        assert response.status == 200
        lines = [json.loads(line) async for line in response.content if line.strip()]
    assert len(lines) == 1 and lines[0]["type"] == "ERROR"
    status = lines[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"].startswith(f"too old resource version: {old}")


async def test_writes_answer_with_the_real_reasons(
    server: ApiServer, http: aiohttp.ClientSession
) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}, "data": {"a": "1"}}
    # (hand-made)
    status, created = await create(http, cm)
    assert status == 201 and created["metadata"]["namespace"] == "llm"
    status, again = await create(http, cm)
    assert (status, again["reason"]) == (409, "AlreadyExists")
    path = "/api/v1/namespaces/llm/configmaps/p"
    stale = {**created, "metadata": {**created["metadata"], "resourceVersion": "1"}}
    async with http.put(path, json=stale) as response:
        assert response.status == 409 and (await response.json())["reason"] == "Conflict"
    merge = {"Content-Type": "application/merge-patch+json"}
    async with http.patch(path, data=json.dumps({"data": {"b": "2"}}), headers=merge) as response:
        assert response.status == 200
        assert (await response.json())["data"] == {"a": "1", "b": "2"}
    strategic = {"Content-Type": "application/strategic-merge-patch+json"}
    async with http.patch(path, data="{}", headers=strategic) as response:
        assert response.status == 415
    apply = {"Content-Type": "application/apply-patch+yaml"}
    async with http.patch(path, data=json.dumps(cm), headers=apply) as response:
        assert response.status == 422  # apply needs a fieldManager
    async with http.get("/api/v1/pods", params={"fieldSelector": "spec.nodeName=x"}) as ok:
        assert ok.status == 200
    async with http.get("/api/v1/pods", params={"fieldSelector": "spec.priority=1"}) as bad:
        assert bad.status == 400
    async with http.get("/api/v1/namespaces/llm/configmaps/absent") as response:
        assert response.status == 404 and (await response.json())["reason"] == "NotFound"


async def test_an_apply_conflict_is_worded_as_apimachinery_words_it(
    http: aiohttp.ClientSession,
) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}, "data": {"a": "1"}}
    # (hand-made)
    path = "/api/v1/namespaces/llm/configmaps/p"
    apply = {"Content-Type": "application/apply-patch+yaml"}
    merge = {"Content-Type": "application/merge-patch+json"}
    async with http.patch(
        path, data=json.dumps(cm), headers=apply, params={"fieldManager": "prewarm-placement"}
    ) as response:
        assert response.status == 201
    async with http.patch(
        path,
        data=json.dumps({"data": {"a": "2"}}),
        headers=merge,
        params={"fieldManager": "kubectl-edit"},
    ) as response:
        edited = await response.json()
    at = next(
        e["time"] for e in edited["metadata"]["managedFields"] if e["manager"] == "kubectl-edit"
    )
    async with http.patch(
        path, data=json.dumps(cm), headers=apply, params={"fieldManager": "prewarm-placement"}
    ) as response:
        assert response.status == 409
        body = await response.json()
    who = f'"kubectl-edit" using v1 at {at}'
    assert body["reason"] == "Conflict"
    assert body["message"] == f"Apply failed with 1 conflict: conflict with {who}: .data.a"
    assert body["details"] == {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {who}",
                "field": ".data.a",
            }
        ]
    }
