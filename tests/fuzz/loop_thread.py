"""An async server fixture run on an event loop in a thread of its own.

Hypothesis drives plain (sync) test functions; the servers under test are asyncio. So the
server's async generator (the same `start_server`/`start` the HTTP tests use) runs on a
loop in a background thread, and the test submits each request to that loop and waits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

TIMEOUT_S = 120.0


class LoopThread(Generic[T]):
    def __init__(self, started: AsyncIterator[T]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._started = started
        self.value: T = self.run(_first(started))

    def run(self, coroutine: Coroutine[Any, Any, R]) -> R:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT_S)

    def close(self) -> None:
        try:
            self.run(_close(self._started))  # runs its `finally`: the server stops
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


async def _first(started: AsyncIterator[T]) -> T:
    return await anext(started)


async def _close(started: AsyncIterator[Any]) -> None:
    aclose = getattr(started, "aclose", None)  # an async generator's
    if aclose is not None:
        await aclose()
