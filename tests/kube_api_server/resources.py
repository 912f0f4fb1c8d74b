"""The resources the in-process API server serves, and how their URLs are spelled.

One row per resource, as `kubectl api-resources` lists them. `status_subresource` marks the kinds
whose `status` the main endpoint ignores (written only through `/status`, as the real server's
registry strategies do); `generation` marks the kinds whose `metadata.generation` counts spec
changes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    status_subresource: bool = False
    generation: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def collection_path(self, namespace: str | None = None) -> str:
        if namespace:
            return f"{self.prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.prefix}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection_path(namespace)}/{name}"


NODES = Resource("", "v1", "nodes", "Node", False, status_subresource=True)
PODS = Resource("", "v1", "pods", "Pod", True, status_subresource=True, generation=True)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", True)
EVENTS = Resource("", "v1", "events", "Event", True)
RESOURCE_SLICES = Resource(
    "resource.k8s.io", "v1", "resourceslices", "ResourceSlice", False, generation=True
)
RESOURCE_CLAIMS = Resource(
    "resource.k8s.io",
    "v1",
    "resourceclaims",
    "ResourceClaim",
    True,
    status_subresource=True,
    generation=True,
)
RESOURCE_CLAIM_TEMPLATES = Resource(
    "resource.k8s.io", "v1", "resourceclaimtemplates", "ResourceClaimTemplate", True
)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", True)

ALL = (
    NODES,
    PODS,
    CONFIGMAPS,
    EVENTS,
    RESOURCE_SLICES,
    RESOURCE_CLAIMS,
    RESOURCE_CLAIM_TEMPLATES,
    LEASES,
)

# Fields each resource can be selected on (the real server refuses any other with 400).
FIELD_SELECTABLE: dict[str, frozenset[str]] = {
    "pods": frozenset({"spec.nodeName", "status.phase", "spec.schedulerName"}),
    "nodes": frozenset({"spec.unschedulable"}),
    "resourceslices": frozenset({"spec.driver", "spec.nodeName"}),
    "events": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "reason",
            "type",
        }
    ),
}
