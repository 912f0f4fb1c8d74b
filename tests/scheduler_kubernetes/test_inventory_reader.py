"""read_inventory through kubernetes-asyncio against a real HTTP server on loopback that serves
the recorded responses on the API server's paths, paging them as the API server does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from kubernetes_asyncio.client import ApiClient, Configuration

from scheduler.kubernetes.inventory import inventory_from_api
from scheduler.kubernetes.inventory_reader import read_inventory
from tests.scheduler_kubernetes.dra_devices import recorded

TOKEN = "recorded-sa-token"
PAGE = 2  # the server pages below the client's limit: the client must follow `continue`
ROUTES = {
    "/api/v1/nodes": "nodes.json",
    "/apis/resource.k8s.io/v1/resourceslices": "resourceslices.json",
    "/apis/resource.k8s.io/v1/resourceclaims": "resourceclaims.json",
    "/api/v1/pods": "pods.json",
}


def fake_api_server(seen: list[web.Request]) -> web.Application:
    def handler(fixture: str) -> Any:
        async def serve(request: web.Request) -> web.Response:
            seen.append(request)
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"kind": "Status", "code": 401}, status=401)
            body = recorded(fixture)
            items = body["items"]
            selector = request.query.get("fieldSelector")
            if selector:  # the API server supports spec.driver=... on ResourceSlices
                key, value = selector.split("=")
                assert key == "spec.driver"
                items = [i for i in items if i["spec"]["driver"] == value]
            labels = request.query.get("labelSelector")
            if labels:  # equality-based, as the reader asks for opted-in pods
                key, value = labels.split("=")
                items = [i for i in items if i["metadata"]["labels"].get(key) == value]
            start = int(request.query.get("continue", "0"))
            limit = min(int(request.query.get("limit", "500")), PAGE)
            page = items[start : start + limit]
            meta = dict(body["metadata"])
            if start + limit < len(items):
                meta["continue"] = str(start + limit)
                meta["remainingItemCount"] = len(items) - start - limit
            return web.Response(
                text=json.dumps({**body, "metadata": meta, "items": page}),
                content_type="application/json",
            )

        return serve

    app = web.Application()
    for path, fixture in ROUTES.items():
        app.router.add_get(path, handler(fixture))
    return app


@pytest.fixture
async def api() -> AsyncIterator[tuple[ApiClient, list[web.Request]]]:
    seen: list[web.Request] = []
    runner = web.AppRunner(fake_api_server(seen))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    config = Configuration(host=f"http://127.0.0.1:{port}")
    config.api_key = {"BearerToken": TOKEN}
    config.api_key_prefix = {"BearerToken": "Bearer"}
    async with ApiClient(configuration=config) as client:
        yield client, seen
    await runner.cleanup()


async def test_read_inventory_over_http_equals_the_pure_function(
    api: tuple[ApiClient, list[web.Request]],
) -> None:
    client, seen = api
    inventory = await read_inventory(client)
    expected = inventory_from_api(
        recorded("nodes.json"),
        recorded("resourceslices.json"),
        recorded("resourceclaims.json"),
        recorded("pods.json"),
    )
    assert inventory == expected
    assert len(inventory["nodes"]) == 4
    paths = [r.path for r in seen]
    # 5 nodes, 5 of our 6 slices, 5 claims, 2 a page: 3 requests each
    assert paths.count("/api/v1/nodes") == 3
    assert paths.count("/apis/resource.k8s.io/v1/resourceslices") == 3
    assert paths.count("/apis/resource.k8s.io/v1/resourceclaims") == 3
    assert paths.count("/api/v1/pods") == 2  # 3 opted-in pods
    pods = [r for r in seen if r.path == "/api/v1/pods"]
    assert all(r.query["labelSelector"] == "prewarm.dev/placement=enabled" for r in pods)
    whole = inventory["nodes"][1]["gpus"][1]
    assert whole["replica"] == "meta-llama/Llama-3.1-70B-Instruct-0"
    slices = [r for r in seen if r.path.endswith("resourceslices")]
    assert all(r.query["fieldSelector"] == "spec.driver=gpu.nvidia.com" for r in slices)
    assert all(r.headers["Accept"] == "application/json" for r in seen)
