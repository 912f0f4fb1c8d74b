"""The in-process API server: a real aiohttp server on a random loopback port, its store, and
the hooks tests use to make it misbehave the ways a real one does.

    async with serve_api() as server:
        async with server.client() as api:     # a kubernetes_asyncio ApiClient, bearer token set
            ...
        server.compact(close_watches=True)     # every resume from an old RV is now 410
        server.faults.inject(500, times=3, watch=True)
        server.send_bookmarks()
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client import ApiClient, Configuration

from tests.kube_api_server.app import make_app
from tests.kube_api_server.faults import Faults
from tests.kube_api_server.resources import Resource
from tests.kube_api_server.store import Store
from tests.kube_api_server.watch import BOOKMARK

TOKEN = "in-process-sa-token"


class ApiServer:
    def __init__(self, history_limit: int = 1000) -> None:
        self.store = Store(history_limit=history_limit)
        self.faults = Faults()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(make_app(self.store, self.faults, TOKEN), shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()

    def configuration(self) -> Configuration:
        config = Configuration(host=self.url)
        config.api_key = {"BearerToken": TOKEN}
        config.api_key_prefix = {"BearerToken": "Bearer"}
        return config

    @asynccontextmanager
    async def client(self) -> AsyncIterator[ApiClient]:
        async with ApiClient(configuration=self.configuration()) as api:
            yield api

    # test hooks --------------------------------------------------------------------------
    def seed(self, resource: Resource, *objects: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.store.seed(resource, obj) for obj in objects]

    def close_watches(self, plural: str | None = None) -> int:
        """Ends open watch streams cleanly, as a server-side timeout or a restart does."""
        closing = [w for w in self.store.watchers if plural in (None, w.resource.plural)]
        for watcher in closing:
            watcher.queue.put_nowait(None)
        return len(closing)

    def compact(self, close_watches: bool = False) -> None:
        self.store.compact()
        if close_watches:
            self.close_watches()

    def send_bookmarks(self) -> None:
        for watcher in self.store.watchers:
            watcher.queue.put_nowait(BOOKMARK)

    def open_watches(self, plural: str | None = None) -> int:
        return sum(1 for w in self.store.watchers if plural in (None, w.resource.plural))


@asynccontextmanager
async def serve_api(history_limit: int = 1000) -> AsyncIterator[ApiServer]:
    server = ApiServer(history_limit)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
