"""The live inventory against the in-process API server: once synced it is exactly what the
list-once reader (`read_inventory`) makes of the same cluster, and it follows a change."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from scheduler.kubernetes.api_calls import call_json
from scheduler.kubernetes.api_resources import RESOURCE_CLAIMS
from scheduler.kubernetes.inventory_reader import read_inventory
from scheduler.kubernetes.inventory_watch import InventoryWatch
from tests.kube_api_server import ApiServer, serve_api
from tests.kube_api_server import resources as served
from tests.scheduler_kubernetes.dra_devices import recorded
from tests.scheduler_kubernetes.live_api import RecordingSleep, running, wait_until

RECORDED = {
    served.NODES: "nodes.json",
    served.PODS: "pods.json",
    served.RESOURCE_SLICES: "resourceslices.json",
    served.RESOURCE_CLAIMS: "resourceclaims.json",
}


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    async with serve_api() as api_server:
        for resource, name in RECORDED.items():
            api_server.seed(resource, *recorded(name)["items"])
        yield api_server


def in_use(inventory: dict[str, object]) -> set[str]:
    return {
        f"{g['uuid']}/{m['profile']}@{m['start']}" if m else g["uuid"]
        for n in inventory["nodes"]  # type: ignore[attr-defined]
        for g in n["gpus"]
        for m in [*g.get("mig", []), None]
        if (m or g).get("in_use")
    }


async def test_the_watched_inventory_is_the_listed_one_and_follows_changes(
    server: ApiServer,
) -> None:
    async with server.client() as api:
        watch = InventoryWatch(api, sleep=RecordingSleep())
        assert watch.inventory() is None and watch.last_error
        async with running(watch.run()):
            await wait_until(watch.synced, "all four informers listed")
            listed = await read_inventory(api)
            assert watch.inventory_json() == listed
            inventory = watch.inventory()
            assert inventory is not None and len(inventory.nodes) == len(listed["nodes"])
            before = in_use(listed)

            watch.changed.clear()
            claim = recorded("resourceclaims.json")["items"][0]["metadata"]
            path = RESOURCE_CLAIMS.object_path(claim["namespace"], claim["name"])
            await call_json(api, "DELETE", path)
            await wait_until(watch.changed.is_set, "the deletion was seen")
            after = watch.inventory_json()
            assert after == await read_inventory(api)
    assert after is not None and len(in_use(after)) == len(before) - 1
