"""The server's state: objects by (resource, namespace, name), one resourceVersion counter for
all of them (etcd's revision), the recent change history watches resume from, and the open
watches. Every method is synchronous, so each write is atomic on the event loop.

The history keeps the last `history_limit` changes. A watch or continue token older than the
oldest kept change is answered 410 Gone, as etcd compaction makes the real server answer.
`compact()` drops the whole history on demand.
"""

from __future__ import annotations

import asyncio
import copy
import random
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.kube_api_server import errors, managed_fields, validation
from tests.kube_api_server.resources import Resource
from tests.kube_api_server.selectors import Matcher

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (plural, namespace or "", name)
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apiserver's generateName alphabet


@dataclass(frozen=True)
class Change:
    rv: int
    plural: str
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj
    previous: Obj | None


@dataclass(eq=False)  # hashed by identity: the set of open watches
class Watcher:
    resource: Resource
    namespace: str | None
    matches: Matcher
    queue: asyncio.Queue[Change | str | None] = field(default_factory=asyncio.Queue)


def _ownership(entries: list[managed_fields.Entry]) -> set[tuple[str, str, frozenset[Any]]]:
    return {(e.manager, e.operation, frozenset(e.paths)) for e in entries}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    def __init__(self, history_limit: int = 1000, first_rv: int = 1000) -> None:
        self.objects: dict[Key, Obj] = {}
        self.owners: dict[Key, list[managed_fields.Entry]] = {}
        self.rv = first_rv
        self.history: deque[Change] = deque(maxlen=history_limit)
        self.compacted_rv = first_rv  # a watch from below this is 410
        self.watchers: set[Watcher] = set()
        self.now: Callable[[], str] = _now
        self.rng = random.Random(0)

    # reads -------------------------------------------------------------------------------
    def get(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        found = self.objects.get((resource.plural, namespace or "", name))
        if found is None:
            raise errors.not_found(resource, name)
        return copy.deepcopy(found)

    def list(self, resource: Resource, namespace: str | None, matches: Matcher) -> list[Obj]:
        found = [
            obj
            for (plural, ns, _), obj in sorted(self.objects.items())
            if plural == resource.plural and (not namespace or ns == namespace) and matches(obj)
        ]
        return copy.deepcopy(found)

    def oldest_watchable_rv(self) -> int:
        """Changes after this RV are all still in the history."""
        if len(self.history) == self.history.maxlen:
            return max(self.compacted_rv, self.history[0].rv - 1)
        return self.compacted_rv

    def changes_since(self, rv: int, plural: str) -> list[Change]:
        if rv < self.oldest_watchable_rv():
            raise errors.gone(f"too old resource version: {rv} ({self.oldest_watchable_rv()})")
        return [c for c in self.history if c.rv > rv and c.plural == plural]

    # writes ------------------------------------------------------------------------------
    def create(self, resource: Resource, namespace: str | None, body: Obj, manager: str) -> Obj:
        obj = self._checked_body(resource, namespace, body)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(
                    resource,
                    resource.kind,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: name or generateName is required",
                            "field": "metadata.name",
                        }
                    ],
                )
            meta["name"] = meta["generateName"] + "".join(
                self.rng.choice(_NAME_CHARS) for _ in range(5)
            )
        key = (resource.plural, namespace or "", meta["name"])
        if key in self.objects:
            raise errors.already_exists(resource, meta["name"])
        self._new_identity(resource, meta)
        if resource.status_subresource:
            obj.pop("status", None)  # status is written through /status only
        entries = managed_fields.update(None, obj, [], manager, self._stamp(resource), False)
        return self._commit(resource, key, obj, entries, "ADDED")

    def replace(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: Obj,
        manager: str,
        subresource: str | None = None,
    ) -> Obj:
        key = (resource.plural, namespace or "", name)
        current = self.objects.get(key)
        if current is None:
            raise errors.not_found(resource, name)
        obj = self._checked_body(resource, namespace, body)
        if obj["metadata"].get("name") != name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        sent_rv = obj["metadata"].get("resourceVersion")
        if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(
                resource,
                name,
                "the object has been modified; please apply your changes to the latest "
                "version and try again",
            )
        if subresource == "status":  # only status moves; everything else is the stored one
            new = copy.deepcopy(current)
            new["status"] = obj.get("status")
            if new["status"] is None:
                new.pop("status")
        else:
            new = obj
            if resource.status_subresource:
                new.pop("status", None)
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
        self._keep_identity(resource, current, new)
        entries = managed_fields.update(
            current,
            new,
            copy.deepcopy(self.owners.get(key, [])),
            manager,
            self._stamp(resource),
            resource.status_subresource and subresource != "status",
        )
        return self._commit(resource, key, new, entries, "MODIFIED")

    def apply(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        config: Obj,
        manager: str,
        force: bool,
    ) -> Obj:
        if isinstance(config, dict) and not (config.get("apiVersion") and config.get("kind")):
            raise errors.bad_request("apiVersion and kind must be set in an apply configuration")
        config = self._checked_body(resource, namespace, config)
        if config["metadata"].get("name") != name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        key = (resource.plural, namespace or "", name)
        current = self.objects.get(key)
        sent_rv = config["metadata"].pop("resourceVersion", None)
        if current is not None and sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
            raise errors.conflict(
                resource,
                name,
                "the object has been modified; please apply your changes to "
                "the latest version and try again",
            )
        merged, entries, conflicts = managed_fields.apply(
            current,
            copy.deepcopy(self.owners.get(key, [])),
            config,
            manager,
            force,
            self._stamp(resource),
            resource.status_subresource,
        )
        if conflicts and not force:
            raise errors.apply_conflict(conflicts)
        merged["apiVersion"], merged["kind"] = resource.api_version, resource.kind
        if current is None:  # apply creates: identity as a create sets it
            meta = merged.setdefault("metadata", {})
            meta["name"] = name
            if resource.namespaced:
                meta["namespace"] = namespace
            self._new_identity(resource, meta)
            return self._commit(resource, key, merged, entries, "ADDED")
        self._keep_identity(resource, current, merged)
        if merged == current and _ownership(entries) == _ownership(self.owners.get(key, [])):
            return copy.deepcopy(current)  # a no-op apply writes nothing, keeps the RV
        return self._commit(resource, key, merged, entries, "MODIFIED")

    def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        preconditions: dict[str, Any] | None = None,
    ) -> Obj:
        key = (resource.plural, namespace or "", name)
        current = self.objects.get(key)
        if current is None:
            raise errors.not_found(resource, name)
        meta = current["metadata"]
        want = preconditions or {}
        if want.get("uid") and want["uid"] != meta["uid"]:
            raise errors.conflict(
                resource,
                name,
                f"Precondition failed: UID in precondition: {want['uid']}, "
                f"UID in object meta: {meta['uid']}",
            )
        if want.get("resourceVersion") and want["resourceVersion"] != meta["resourceVersion"]:
            raise errors.conflict(
                resource,
                name,
                "Precondition failed: ResourceVersion in precondition: "
                f"{want['resourceVersion']}, ResourceVersion in object meta: "
                f"{meta['resourceVersion']}",
            )
        del self.objects[key]
        self.owners.pop(key, None)
        self.rv += 1
        gone = copy.deepcopy(current)
        gone["metadata"]["resourceVersion"] = str(self.rv)  # DELETED carries the deletion RV
        self._record(Change(self.rv, resource.plural, "DELETED", gone, current))
        return copy.deepcopy(current)

    def seed(self, resource: Resource, obj: Obj) -> Obj:
        """Stores a recorded object as it was recorded (uid, timestamps, status kept) under a
        new resourceVersion: for test setup, not reachable over HTTP."""
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", resource.api_version)
        obj.setdefault("kind", resource.kind)
        meta = obj["metadata"]
        meta.pop("resourceVersion", None)
        meta.pop("managedFields", None)
        key = (resource.plural, meta.get("namespace", ""), meta["name"])
        entries = managed_fields.update(None, obj, [], "recorded", self._stamp(resource), False)
        kind = "MODIFIED" if key in self.objects else "ADDED"
        return self._commit(resource, key, obj, entries, kind)

    def compact(self) -> None:
        """Forgets every change so far: any watch or continue from an older RV is 410 Gone."""
        self.history.clear()
        self.compacted_rv = self.rv

    # helpers -----------------------------------------------------------------------------
    def _stamp(self, resource: Resource) -> tuple[str, str]:
        return (resource.api_version, self.now())

    def _checked_body(self, resource: Resource, namespace: str | None, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request is not a JSON object")
        obj = copy.deepcopy(body)
        if obj.get("apiVersion") not in (None, resource.api_version) or obj.get("kind") not in (
            None,
            resource.kind,
        ):
            raise errors.bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) or kind "
                f"({obj.get('kind')}) does not match the expected {resource.api_version}, "
                f"{resource.kind}"
            )
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata is not an object")
        meta.pop("managedFields", None)  # written by the server only (an empty list clears)
        if resource.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        elif meta.get("namespace"):
            raise errors.bad_request("a cluster-scoped object cannot have a namespace")
        return obj

    def _new_identity(self, resource: Resource, meta: Obj) -> None:
        meta["uid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        meta["creationTimestamp"] = self.now()
        if resource.generation:
            meta["generation"] = 1

    def _keep_identity(self, resource: Resource, current: Obj, new: Obj) -> None:
        old_meta, meta = current["metadata"], new["metadata"]
        if meta.get("uid") not in (None, old_meta["uid"]):
            raise errors.conflict(
                resource,
                old_meta["name"],
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object "
                f"meta: {old_meta['uid']}",
            )
        for name in ("uid", "creationTimestamp", "generateName", "generation"):
            if name in old_meta:
                meta[name] = old_meta[name]
        if resource.generation and new.get("spec") != current.get("spec"):
            meta["generation"] = int(old_meta.get("generation", 0)) + 1

    def _commit(
        self,
        resource: Resource,
        key: Key,
        obj: Obj,
        entries: list[managed_fields.Entry],
        kind: str,
    ) -> Obj:
        previous = self.objects.get(key)
        obj["metadata"]["resourceVersion"] = str(self.rv + 1)
        if entries:
            obj["metadata"]["managedFields"] = [e.render() for e in entries]
        validation.check(obj, resource)  # before the RV moves: a refused write leaves no trace
        self.rv += 1
        self.objects[key] = obj
        self.owners[key] = entries
        self._record(Change(self.rv, resource.plural, kind, copy.deepcopy(obj), previous))
        return copy.deepcopy(obj)

    def _record(self, change: Change) -> None:
        self.history.append(change)
        for watcher in list(self.watchers):
            if watcher.resource.plural == change.plural:
                watcher.queue.put_nowait(change)
