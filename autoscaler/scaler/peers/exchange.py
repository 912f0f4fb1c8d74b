"""Hears the other Prewarm replicas: polls each one's `GET /peers/decisions`.

Peers are listed (`peers.urls`) or found through DNS (`peers.dns`, a headless Service whose
name resolves to every replica's pod address). The replica's own address may be among them:
its report carries its own instance name and is skipped. A peer that stops answering is
forgotten after `forget_after_s`, so its last decisions do not outlive it: the next most
senior replica's decisions then count (agreement.py).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from pydantic import ValidationError

from autoscaler.clock import Clock
from autoscaler.scaler.peers.agreement import PeerDecision
from autoscaler.scaler.peers.report import PeerReport, TargetKey

log = logging.getLogger("prewarm.peers")

REPORT_PATH = "/peers/decisions"


@dataclass(frozen=True)
class PeerSettings:
    instance: str  # this replica's name in reports
    urls: tuple[str, ...] = ()  # http://host:port of each replica's HTTP face
    dns: str | None = None  # host:port resolving to every replica
    every_s: float = 5.0
    timeout_s: float = 1.0

    @property
    def forget_after_s(self) -> float:
        """Three missed polls: a peer restarting or briefly slow is not forgotten at once."""
        return 3 * self.every_s


@dataclass
class _Heard:
    at_s: float
    decisions: dict[TargetKey, PeerDecision]


@dataclass
class PeerExchange:
    settings: PeerSettings
    clock: Clock
    on_change: Callable[[], None] = lambda: None  # told when any peer's decisions changed
    _heard: dict[str, _Heard] = field(default_factory=dict)

    @property
    def instance(self) -> str:
        return self.settings.instance

    def candidates(self, key: TargetKey) -> list[PeerDecision]:
        """The decisions other replicas currently hold for one target."""
        return [h.decisions[key] for h in self._heard.values() if key in h.decisions]

    def peers(self) -> list[str]:
        return sorted(self._heard)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self.settings.timeout_s) as client:
            while True:
                try:
                    await self.poll_once(client)
                except Exception:  # a bug must not end the exchange: replicas would drift
                    log.exception("hearing the peers failed")
                await self.clock.sleep(self.settings.every_s)

    async def poll_once_alone(self) -> None:
        """One round with a client of its own (at start, before serving)."""
        async with httpx.AsyncClient(timeout=self.settings.timeout_s) as client:
            await self.poll_once(client)

    async def poll_once(self, client: httpx.AsyncClient) -> None:
        urls = await self._urls()
        reports = await asyncio.gather(*(self._fetch(client, url) for url in urls))
        now_s = self.clock.now_s()
        changed = False
        for report in reports:
            if report is None or report.instance == self.instance:
                continue
            decisions = report.by_target()
            before = self._heard.get(report.instance)
            changed |= before is None or before.decisions != decisions
            self._heard[report.instance] = _Heard(now_s, decisions)
        for instance, heard in list(self._heard.items()):
            if now_s - heard.at_s > self.settings.forget_after_s:
                log.warning("peer %s silent for %.0f s: forgotten", instance, now_s - heard.at_s)
                del self._heard[instance]
                changed = True
        if changed:
            self.on_change()

    async def _urls(self) -> list[str]:
        urls = list(self.settings.urls)
        if self.settings.dns:
            host, _, port = self.settings.dns.rpartition(":")
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, int(port), type=socket.SOCK_STREAM
                )
            except OSError as exc:
                log.warning("peers: cannot resolve %s: %s", self.settings.dns, exc)
                infos = []
            for family, _, _, _, address in infos:
                ip = str(address[0])
                host_part = f"[{ip}]" if family == socket.AF_INET6 else ip
                urls.append(f"http://{host_part}:{address[1]!s}")
        return sorted(set(urls))

    async def _fetch(self, client: httpx.AsyncClient, url: str) -> PeerReport | None:
        try:
            response = await client.get(url.rstrip("/") + REPORT_PATH)
            response.raise_for_status()
            return PeerReport.model_validate_json(response.content)
        except (httpx.HTTPError, httpx.InvalidURL, ValidationError) as exc:
            # A peer starting, stopping or being replaced: expected now and then, and the
            # decisions fall back to this replica's own (or other peers') meanwhile.
            log.debug("peer %s: %s", url, type(exc).__name__)
            return None
