"""Writes through server-side apply under Prewarm's own field manager, `prewarm-placement`.

Apply sends the whole object we want; the API server merges it and records which fields each
manager owns, so a field someone else set (an operator's `kubectl label`) survives our writes
unless we also set it. When we set it to another value the server answers 409 with the
fields and their owners: that is `ApplyConflict`, never retried blindly, since only the caller
knows whether to force (a controller owning the object should) or to report it.

Transient answers are retried with jittered backoff: 409 without field conflicts (a storage
race), 429 (Retry-After is a floor), 5xx and connection errors. Validation errors (422) and
refusals (403) are not: they would fail the same way again.

Deletion is the one write that cannot be undone by the next apply, so `delete_if_recreatable`
refuses anything we could not put back as it was: objects another manager has written to,
objects not labelled as ours, and ResourceClaims that are allocated or reserved (a pod holds
the device). It deletes with uid and resourceVersion preconditions, so an object that changed
since we looked is left alone. `may_write` (the leader elector's check) is asked before every
attempt: a replica that lost the lease stops mid-retry.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from scheduler.kubernetes.api_calls import (
    RETRIABLE,
    call_json,
    retry_after_s,
    status_body,
    status_of,
)
from scheduler.kubernetes.api_resources import BY_KIND, RESOURCE_CLAIMS, ApiResource
from scheduler.kubernetes.backoff import Backoff
from scheduler.kubernetes.manifests import MANAGED_BY

log = logging.getLogger("prewarm.placement")
FIELD_MANAGER = "prewarm-placement"
APPLY_PATCH = "application/apply-patch+yaml"
Obj = dict[str, Any]
_MANAGER = re.compile(r'conflict with "([^"]*)"')


@dataclass(frozen=True)
class FieldConflict:
    manager: str
    field: str


class ApplyConflict(Exception):
    """Another field manager owns fields we set to other values."""

    def __init__(self, what: str, conflicts: tuple[FieldConflict, ...], message: str) -> None:
        super().__init__(f"{what}: {message}")
        self.conflicts = conflicts


class NotLeader(Exception):
    """`may_write` said no: this replica must not write."""


def _conflicts(exc: ApiException) -> tuple[FieldConflict, ...]:
    """The (manager, field) pairs of an apply conflict. The server words each cause as
    `conflict with "kubectl"` (an applier) or `conflict with "kubectl-edit" using v1 at
    2026-12-07T18:09:41Z` (an updater); StatusCause's type is serialised as `reason`."""
    causes = (status_body(exc).get("details") or {}).get("causes") or []
    found = []
    for cause in causes:
        if cause.get("reason") != "FieldManagerConflict":
            continue
        named = _MANAGER.search(str(cause.get("message", "")))
        found.append(FieldConflict(named.group(1) if named else "", str(cause.get("field", ""))))
    return tuple(found)


def _resource(obj: Obj) -> ApiResource:
    found = BY_KIND.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if found is None:
        raise ValueError(f"no API resource for {obj.get('apiVersion')} {obj.get('kind')}")
    return found


class SsaWriter:
    def __init__(
        self,
        api: ApiClient,
        *,
        field_manager: str = FIELD_MANAGER,
        backoff: Backoff | None = None,
        max_attempts: int = 6,
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        self.api = api
        self.field_manager = field_manager
        self.backoff = backoff or Backoff()
        self.max_attempts = max_attempts
        self.may_write = may_write

    async def apply(self, obj: Obj, *, force: bool = False) -> Obj:
        """The object as stored after the apply."""
        resource = _resource(obj)
        meta = obj.get("metadata") or {}
        path = resource.object_path(meta.get("namespace"), str(meta.get("name")))
        query = [
            ("fieldManager", self.field_manager),
            ("force", "true" if force else "false"),
            ("fieldValidation", "Strict"),  # a misspelt field is an error, not lost silently
        ]
        return await self._retrying(
            f"{resource.kind} {path}",
            lambda: call_json(
                self.api, "PATCH", path, query=query, body=obj, content_type=APPLY_PATCH
            ),
        )

    async def delete_if_recreatable(
        self, resource: ApiResource, namespace: str | None, name: str
    ) -> str | None:
        """Deletes the object if only we wrote it and nothing holds it; otherwise (or if it
        is already gone) says why not. None means deleted."""
        path = resource.object_path(namespace, name)
        try:
            current = await self._retrying(path, lambda: call_json(self.api, "GET", path))
        except ApiException as exc:
            if exc.status == 404:
                return "already gone"
            raise
        refusal = _refusal(current, resource, self.field_manager)
        if refusal:
            log.info("not deleting", extra={"object": path, "reason": refusal})
            return refusal
        meta = current["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]},
        }
        try:
            await self._retrying(
                path, lambda: call_json(self.api, "DELETE", path, body=body), retry_409=False
            )
        except ApiException as exc:
            if exc.status == 409:
                return "changed since it was read; left for the next reconcile"
            if exc.status == 404:
                return "already gone"
            raise
        return None

    async def _retrying(self, what: str, call: Callable[[], Any], retry_409: bool = True) -> Obj:
        self.backoff.reset()
        for attempt in range(1, self.max_attempts + 1):
            if not self.may_write():
                raise NotLeader(f"not the leader: {what} not written")
            try:
                result: Obj = await call()
                return result
            except ApiException as exc:
                conflicts = _conflicts(exc)
                if conflicts:
                    raise ApplyConflict(
                        what, conflicts, status_body(exc).get("message", "conflict")
                    ) from None
                status = status_of(exc)
                if status not in RETRIABLE or (status == 409 and not retry_409):
                    raise
                if attempt == self.max_attempts:
                    raise
                delay = await self.backoff.wait(retry_after_s(exc))
            except (aiohttp.ClientError, TimeoutError):
                if attempt == self.max_attempts:
                    raise
                delay = await self.backoff.wait()
            log.warning("write failed; retrying", extra={"object": what, "delay_s": delay})
        raise AssertionError("unreachable")


def _refusal(obj: Obj, resource: ApiResource, field_manager: str) -> str | None:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if any(labels.get(k) != v for k, v in MANAGED_BY.items()):
        return "not labelled " + ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
    status = obj.get("status") or {}
    if resource == RESOURCE_CLAIMS and (status.get("allocation") or status.get("reservedFor")):
        return "allocated or reserved: a pod holds its devices"
    others = sorted({e.get("manager") for e in meta.get("managedFields") or []} - {field_manager})
    if others:
        return f"also written by {', '.join(str(o) for o in others)}"
    return None
