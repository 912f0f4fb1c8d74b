"""An informer: an in-memory copy of one resource, kept current by list-then-watch.

It lists (paged, through `inventory_reader.list_all`), then watches from the list's
resourceVersion with bookmarks, so it resumes exactly where it stopped:

- a watch that ends (server timeout, LB cut, restart) is reopened from the last resourceVersion
  seen, a BOOKMARK's included: nothing is missed and nothing replayed;
- a 410 Gone (the history we would resume from was compacted) re-lists; the re-list is diffed
  against the store, so the callback sees only what really changed while we were away;
- any other error (500, 429, connection refused) waits with jittered exponential backoff
  (Retry-After is a floor) and resumes the watch, or retries the list if that failed.

The callback runs synchronously for every change, in order, and must be quick (mark something
dirty, not reconcile): it receives the objects as stored, which nobody may mutate. Store keys
are client-go's: `namespace/name`, or `name` for cluster-scoped objects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from scheduler.kubernetes.api_calls import open_watch, retry_after_s, status_of
from scheduler.kubernetes.api_resources import ApiResource, object_key
from scheduler.kubernetes.backoff import Backoff
from scheduler.kubernetes.inventory_reader import list_all

log = logging.getLogger("prewarm.placement")
Obj = dict[str, Any]


@dataclass(frozen=True)
class Change:
    type: str  # ADDED, MODIFIED, DELETED
    key: str
    old: Obj | None
    new: Obj | None


class Expired(Exception):
    """The resourceVersion to resume from is gone (410): only a re-list recovers."""


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Informer:
    def __init__(
        self,
        api: ApiClient,
        resource: ApiResource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        on_change: Callable[[Change], None] | None = None,
        backoff: Backoff | None = None,
        watch_timeout_s: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        self.api = api
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.on_change = on_change
        self.backoff = backoff or Backoff()
        self.watch_timeout_s = watch_timeout_s
        self.rng = rng or random.Random()
        self.store: dict[str, Obj] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()  # set after the first complete list
        self.lists = 0
        self.watches = 0
        self.failures = 0

    def snapshot(self) -> Obj:
        """The store as a List object, the shape `inventory_from_api` reads."""
        return {
            "metadata": {"resourceVersion": self.resource_version},
            "items": [self.store[k] for k in sorted(self.store)],
        }

    async def run(self) -> None:
        """Until cancelled."""
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                await self._watch()
            except Expired:
                log.info("watch expired; re-listing", extra={"resource": self.resource.plural})
                need_list = True
            except ApiException as exc:
                if exc.status != 410:
                    await self._failed(exc)
                # 410 as the HTTP status (no watch cache; or an expired continue token)
                need_list = need_list or exc.status == 410
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                await self._failed(exc)

    async def _failed(self, exc: Exception) -> None:
        self.failures += 1
        delay = await self.backoff.wait(retry_after_s(exc))
        log.warning(
            "list/watch failed; retrying",
            extra={
                "resource": self.resource.plural,
                "status": status_of(exc),
                "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                "delay_s": round(delay, 3),
            },
        )

    async def _list(self) -> None:
        listed = await list_all(
            self.api,
            self.resource.collection_path(self.namespace),
            self.field_selector,
            self.label_selector,
        )
        self.lists += 1
        fresh = {object_key(o): o for o in listed.get("items") or []}
        old = self.store
        self.store = fresh
        self.resource_version = str((listed.get("metadata") or {}).get("resourceVersion") or "")
        self.backoff.reset()
        for key in sorted(fresh.keys() - old.keys()):
            self._emit(Change("ADDED", key, None, fresh[key]))
        for key in sorted(fresh.keys() & old.keys()):
            if _rv(fresh[key]) != _rv(old[key]):
                self._emit(Change("MODIFIED", key, old[key], fresh[key]))
        for key in sorted(old.keys() - fresh.keys()):
            self._emit(Change("DELETED", key, old[key], None))
        self.synced.set()

    async def _watch(self) -> None:
        # Jittered like client-go's reflector, so many watches do not all renew together.
        timeout_s = self.watch_timeout_s * self.rng.uniform(1.0, 2.0)
        query: list[tuple[str, Any]] = [
            ("resourceVersion", self.resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", int(timeout_s)),
        ]
        if self.label_selector:
            query.append(("labelSelector", self.label_selector))
        if self.field_selector:
            query.append(("fieldSelector", self.field_selector))
        path = self.resource.collection_path(self.namespace)
        response = await open_watch(self.api, path, query, timeout_s + 30.0)
        self.watches += 1
        try:
            while line := await response.content.readline():
                self._handle(json.loads(line))
                self.backoff.reset()
        finally:
            response.release()

    def _handle(self, event: Obj) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise Expired(obj.get("message", "resource version too old"))
            raise ApiException(status=code, reason=obj.get("message"))
        if kind == "BOOKMARK":
            self.resource_version = _rv(obj) or self.resource_version
            return
        key = object_key(obj)
        old = self.store.get(key)
        if kind in ("ADDED", "MODIFIED"):
            if old is not None and _rv(old) == _rv(obj):
                pass  # already seen: a replay must not reach the callback twice
            else:
                self.store[key] = obj
                self._emit(Change("ADDED" if old is None else "MODIFIED", key, old, obj))
        elif kind == "DELETED" and old is not None:
            del self.store[key]
            self._emit(Change("DELETED", key, old, None))
        self.resource_version = _rv(obj) or self.resource_version

    def _emit(self, change: Change) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(change)
        except Exception:  # one bad callback must not stop the store from following the API
            log.exception("informer callback failed", extra={"key": change.key})
