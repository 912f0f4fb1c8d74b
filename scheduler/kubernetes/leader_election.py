"""Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it,
so two Prewarm replicas never both write.

Each step reads the Lease. The holder renews `renewTime`; another replica takes the Lease only
once it has seen the same record unchanged for `leaseDurationSeconds` on its OWN clock (never
by comparing the holder's timestamps with its clock: the two may disagree). Every write sends
the resourceVersion it read, so of two replicas racing for a free Lease one gets 409 and
stays a follower.

Why there is never a moment with two leaders: the holder counts itself leader only until
`renew_deadline_s` after its last successful renewal; a follower first sees that renewal no
earlier than it was written and waits `lease_duration_s` > `renew_deadline_s` more. With the
defaults (15 s lease, 10 s deadline, 2 s retry) a dead leader is replaced 15-17 s after its
last renewal, and it stopped calling itself leader 5 s before that. Stopping releases the
Lease (empty holder), so a clean shutdown hands over at the follower's next step.

The clock and the sleep are injected: tests step two electors through a timeline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from autoscaler.clock import Clock
from scheduler.kubernetes.api_calls import call_json
from scheduler.kubernetes.api_resources import LEASES
from scheduler.kubernetes.backoff import Sleep

log = logging.getLogger("prewarm.placement")
Obj = dict[str, Any]


def default_identity() -> str:
    """The pod's name (the Downward API's POD_NAME), else the host name: unique per replica."""
    return os.environ.get("POD_NAME") or socket.gethostname()


def micro_time(now_s: float) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds, e.g. 2026-12-07T18:09:41.250000Z."""
    return datetime.fromtimestamp(now_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        api: ApiClient,
        namespace: str,
        name: str,
        identity: str,
        clock: Clock,
        *,
        lease_duration_s: float = 15.0,
        renew_deadline_s: float = 10.0,
        retry_period_s: float = 2.0,
        sleep: Sleep | None = None,  # None: the clock's
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        if not retry_period_s < renew_deadline_s < lease_duration_s:
            raise ValueError("need retry_period_s < renew_deadline_s < lease_duration_s")
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.clock = clock
        self.lease_duration_s = lease_duration_s
        self.renew_deadline_s = renew_deadline_s
        self.retry_period_s = retry_period_s
        self.sleep = sleep or clock.sleep
        self.on_change = on_change
        self.path = LEASES.object_path(namespace, name)
        self._renewed_at: float | None = None  # our last successful write as holder
        self._observed: Obj | None = None  # the last Lease spec we saw...
        self._observed_at = 0.0  # ...and when, on our clock
        self._was_leader = False
        self._stopping = asyncio.Event()

    def is_leader(self) -> bool:
        """True only within `renew_deadline_s` of our last successful renewal."""
        return (
            self._renewed_at is not None
            and self.clock.now_s() < self._renewed_at + self.renew_deadline_s
        )

    async def step(self) -> bool:
        """One try to acquire or renew; whether we lead afterwards. API errors are a failed
        try: leadership then runs out at the renew deadline by itself."""
        try:
            await self._try_acquire_or_renew()
        except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "lease update failed",
                extra={"lease": self.path, "status": getattr(exc, "status", None)},
            )
        leading = self.is_leader()
        if leading != self._was_leader:
            self._was_leader = leading
            log.info("leadership changed", extra={"identity": self.identity, "leader": leading})
            if self.on_change is not None:
                self.on_change(leading)
        return leading

    async def run(self) -> None:
        """Steps every retry period until `stop()`, then releases the Lease if we hold it."""
        while not self._stopping.is_set():
            await self.step()
            await self.sleep(self.retry_period_s)
        await self.release()

    def stop(self) -> None:
        self._stopping.set()

    async def release(self) -> None:
        """Hands the Lease over now instead of letting it expire."""
        if not self.is_leader():
            return
        now = self.clock.now_s()
        self._renewed_at = None  # stop leading before the write, not after
        try:
            lease = await call_json(self.api, "GET", self.path)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return
            lease["spec"] = {
                "leaseDurationSeconds": 1,
                "acquireTime": micro_time(now),
                "renewTime": micro_time(now),
                "leaseTransitions": spec.get("leaseTransitions", 0),
            }
            await call_json(self.api, "PUT", self.path, body=lease)
        except (ApiException, aiohttp.ClientError, TimeoutError):
            log.warning("lease release failed; it will expire instead", extra={"lease": self.path})
        finally:
            if self._was_leader and self.on_change is not None:
                self._was_leader = False
                self.on_change(False)

    async def _try_acquire_or_renew(self) -> None:
        now = self.clock.now_s()
        try:
            lease = await call_json(self.api, "GET", self.path)
        except ApiException as exc:
            if exc.status != 404:
                raise
            await self._create(now)
            return
        spec = lease.get("spec") or {}
        if spec != self._observed:
            self._observed, self._observed_at = spec, now
        holder = spec.get("holderIdentity")
        duration_s = float(spec.get("leaseDurationSeconds") or self.lease_duration_s)
        if holder and holder != self.identity:
            self._renewed_at = None  # whatever we thought, the Lease says someone else leads
            if now < self._observed_at + duration_s:
                return  # their lease, still running on our clock
        ours = holder == self.identity
        transitions = int(spec.get("leaseTransitions") or 0)
        lease["spec"] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration_s),
            "acquireTime": spec.get("acquireTime") if ours else micro_time(now),
            "renewTime": micro_time(now),
            "leaseTransitions": transitions if ours else transitions + 1,
        }
        try:  # resourceVersion as read: a racing replica's write makes ours a 409
            stored = await call_json(self.api, "PUT", self.path, body=lease)
        except ApiException as exc:
            if exc.status == 409:
                return
            raise
        self._won(stored, now)

    async def _create(self, now: float) -> None:
        lease = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.lease_duration_s),
                "acquireTime": micro_time(now),
                "renewTime": micro_time(now),
                "leaseTransitions": 0,
            },
        }
        try:
            stored = await call_json(
                self.api, "POST", LEASES.collection_path(self.namespace), body=lease
            )
        except ApiException as exc:
            if exc.status == 409:  # another replica created it first
                return
            raise
        self._won(stored, now)

    def _won(self, stored: Obj, now: float) -> None:
        self._renewed_at = now
        self._observed, self._observed_at = stored.get("spec") or {}, now
