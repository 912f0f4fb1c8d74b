"""Reading the inventory from a cluster: a thin kubernetes-asyncio adapter around
`inventory.inventory_from_api`. It only lists (Nodes, our driver's ResourceSlices, ResourceClaims,
the Pods that opted into placement) as raw JSON, following `continue` tokens, and hands the
lists to the pure function.

RBAC it needs: list on nodes and pods, and on resourceslices and resourceclaims in
resource.k8s.io.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import ApiClient

from scheduler.kubernetes.admission import PLACEMENT_ENABLED, PLACEMENT_LABEL
from scheduler.kubernetes.inventory import DRIVER, inventory_from_api

NODES_PATH = "/api/v1/nodes"
SLICES_PATH = "/apis/resource.k8s.io/v1/resourceslices"
CLAIMS_PATH = "/apis/resource.k8s.io/v1/resourceclaims"
PODS_PATH = "/api/v1/pods"
PAGE_SIZE = 500


async def list_all(
    api: ApiClient,
    path: str,
    field_selector: str | None = None,
    label_selector: str | None = None,
) -> dict[str, Any]:
    """One List object with the items of every page (the API server pages at `limit`)."""
    items: list[Any] = []
    token = None
    first: dict[str, Any] = {}
    while True:
        query: list[tuple[str, Any]] = [("limit", PAGE_SIZE)]
        if field_selector:
            query.append(("fieldSelector", field_selector))
        if label_selector:
            query.append(("labelSelector", label_selector))
        if token:
            query.append(("continue", token))
        page = await api.call_api(
            path,
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            response_types_map={200: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )
        first = first or page
        items += page.get("items") or []
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return {**first, "items": items}


async def read_inventory(api: ApiClient) -> dict[str, Any]:
    nodes = await list_all(api, NODES_PATH)
    slices = await list_all(api, SLICES_PATH, f"spec.driver={DRIVER}")
    claims = await list_all(api, CLAIMS_PATH)
    # Only opted-in pods carry the replica the webhook gave them.
    pods = await list_all(api, PODS_PATH, label_selector=f"{PLACEMENT_LABEL}={PLACEMENT_ENABLED}")
    return inventory_from_api(nodes, slices, claims, pods)
