"""The API resources the placement controller reads and writes, and their URL paths.

Raw paths rather than kubernetes-asyncio's generated models: the adapter passes JSON dicts to
the pure core (as `inventory_reader` does), and resource.k8s.io/v1 is newer than some of the
client's generated models.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiResource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        if self.namespaced and not namespace:
            raise ValueError(f"{self.kind} {name!r} is namespaced: a namespace is required")
        return f"{self.collection_path(namespace)}/{name}"


NODES = ApiResource("", "v1", "nodes", "Node", False)
PODS = ApiResource("", "v1", "pods", "Pod", True)
CONFIGMAPS = ApiResource("", "v1", "configmaps", "ConfigMap", True)
EVENTS = ApiResource("", "v1", "events", "Event", True)
RESOURCE_SLICES = ApiResource("resource.k8s.io", "v1", "resourceslices", "ResourceSlice", False)
RESOURCE_CLAIMS = ApiResource("resource.k8s.io", "v1", "resourceclaims", "ResourceClaim", True)
RESOURCE_CLAIM_TEMPLATES = ApiResource(
    "resource.k8s.io", "v1", "resourceclaimtemplates", "ResourceClaimTemplate", True
)
LEASES = ApiResource("coordination.k8s.io", "v1", "leases", "Lease", True)

BY_KIND = {
    (r.api_version, r.kind): r
    for r in (
        NODES,
        PODS,
        CONFIGMAPS,
        EVENTS,
        RESOURCE_SLICES,
        RESOURCE_CLAIMS,
        RESOURCE_CLAIM_TEMPLATES,
        LEASES,
    )
}


def object_key(obj: dict[str, object]) -> str:
    """`namespace/name`, or `name` for a cluster-scoped object: client-go's store key."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise ValueError("object has no metadata")
    name, namespace = meta.get("name"), meta.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)
