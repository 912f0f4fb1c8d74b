"""Kubernetes Events (core/v1) on the workload a plan is about, so `kubectl describe` shows
why its replicas went where they did, or why some were not placed.

Repeats are folded as client-go's EventCorrelator folds them: the same (object, type, reason,
message) again bumps `count` and `lastTimestamp` on the Event already written (a merge patch)
instead of writing a new one, so a reconcile every few seconds saying the same thing costs
one object. If that Event expired (the API server keeps Events for an hour) a new one is
created. Messages are cut at 1,024 characters, as client-go does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from autoscaler.clock import Clock
from scheduler.kubernetes.api_calls import call_json
from scheduler.kubernetes.api_resources import EVENTS
from scheduler.kubernetes.ssa_writer import FIELD_MANAGER

log = logging.getLogger("prewarm.placement")
MAX_MESSAGE = 1024
Key = tuple[str, str, str, str, str, str]  # (namespace, kind, name, type, reason, message)


@dataclass(frozen=True)
class InvolvedObject:
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""

    def to_json(self) -> dict[str, str]:
        found = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }
        return {**found, "uid": self.uid} if self.uid else found


def _time(now_s: float) -> str:
    return datetime.fromtimestamp(now_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(
        self, api: ApiClient, clock: Clock, *, instance: str, component: str = FIELD_MANAGER
    ) -> None:
        self.api = api
        self.clock = clock
        self.instance = instance  # the pod name: which replica said it
        self.component = component
        self._written: dict[Key, tuple[str, int]] = {}  # -> (event name, count)

    async def record(
        self, involved: InvolvedObject, type_: str, reason: str, message: str
    ) -> dict[str, Any] | None:
        """The Event as stored; None if the API refused it (Events are best effort: a lost
        one must never stop a reconcile)."""
        message = message[:MAX_MESSAGE]
        key = (involved.namespace, involved.kind, involved.name, type_, reason, message)
        now = _time(self.clock.now_s())
        try:
            if key in self._written:
                name, count = self._written[key]
                path = EVENTS.object_path(involved.namespace, name)
                try:
                    stored = await call_json(
                        self.api,
                        "PATCH",
                        path,
                        body={"count": count + 1, "lastTimestamp": now},
                        content_type="application/merge-patch+json",
                        query=[("fieldManager", self.component)],
                    )
                    self._written[key] = (name, count + 1)
                    return stored
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    del self._written[key]  # expired: write it anew
            stored = await call_json(
                self.api,
                "POST",
                EVENTS.collection_path(involved.namespace),
                body=self._event(involved, type_, reason, message, now),
                query=[("fieldManager", self.component)],
            )
        except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("event not recorded", extra={"reason": reason, "error": str(exc)[:200]})
            return None
        self._written[key] = (stored["metadata"]["name"], 1)
        return stored

    def _event(
        self, involved: InvolvedObject, type_: str, reason: str, message: str, now: str
    ) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Event",
            # client-go's naming: the object's name and a unique suffix
            "metadata": {"generateName": f"{involved.name}.", "namespace": involved.namespace},
            "involvedObject": involved.to_json(),
            "type": type_,
            "reason": reason,
            "message": message,
            "source": {"component": self.component},
            "reportingComponent": f"prewarm.dev/{self.component}",
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
