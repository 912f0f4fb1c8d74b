"""Writes a reconcile turn's `PlacementDiff` (scheduler/controller/diff.py) in the order that
never points a pod at a template that does not exist: claim templates, then the placement
ConfigMaps, then the deletions. A template that fails stops the turn before any ConfigMap is
written; the next turn computes the same diff and tries again.

The controller owns these objects, so an apply that conflicts with another manager (an
operator's `kubectl edit` of a placement ConfigMap) is reported and then forced, as
Kubernetes recommends for controllers: the webhook must serve the plan, not the edit.
Deletions go through `delete_if_recreatable`, which refuses what we could not put back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from scheduler.controller.diff import PlacementDiff
from scheduler.kubernetes.api_resources import CONFIGMAPS, RESOURCE_CLAIM_TEMPLATES, ApiResource
from scheduler.kubernetes.ssa_writer import ApplyConflict, FieldConflict, SsaWriter

log = logging.getLogger("prewarm.placement")
DELETABLE: dict[str, ApiResource] = {
    "ConfigMap": CONFIGMAPS,
    "ResourceClaimTemplate": RESOURCE_CLAIM_TEMPLATES,
}


@dataclass
class WriteReport:
    applied: list[str] = field(default_factory=list)  # "Kind/name"
    deleted: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # ("Kind/name", why not deleted)
    overridden: list[tuple[str, FieldConflict]] = field(default_factory=list)


def _name(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


async def write_diff(writer: SsaWriter, diff: PlacementDiff, namespace: str) -> WriteReport:
    """API errors propagate (after
    the writer's own retries); what was written before them stays written."""
    report = WriteReport()
    for obj in (*diff.templates, *diff.configmaps):
        try:
            await writer.apply(obj)
        except ApplyConflict as conflict:
            report.overridden += [(_name(obj), c) for c in conflict.conflicts]
            log.warning("overriding another field manager", extra={"object": _name(obj)})
            await writer.apply(obj, force=True)
        report.applied.append(_name(obj))
    for kind, name in diff.delete:
        resource = DELETABLE.get(kind)
        if resource is None:
            report.kept.append((f"{kind}/{name}", "not a kind the controller deletes"))
            continue
        why_not = await writer.delete_if_recreatable(resource, namespace, name)
        if why_not is None:
            report.deleted.append(f"{kind}/{name}")
        elif why_not != "already gone":
            report.kept.append((f"{kind}/{name}", why_not))
    return report
