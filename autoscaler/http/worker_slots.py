"""CPU-bound work for the operators' API, run in worker threads a few at a time.

A handler that computes on the event loop stalls every request behind it, the kubelet's
/readyz probe included: twelve concurrent history.png renders (~0.1-0.2 s of matplotlib
each) held /readyz for 2-3 s, past the probe's timeout. So the work runs in a thread, and at
most `slots` at once: more threads would not draw faster (they share the GIL with the loop)
but would starve it. A request that finds every slot taken is answered 429 with
Retry-After at once rather than queued, so a dashboard refreshing many panels cannot build
a backlog that outlives its own timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException

T = TypeVar("T")

RETRY_AFTER_S = 1


class WorkerSlots:
    def __init__(self, slots: int, what: str) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.slots = slots
        self.what = what
        self._busy = 0  # touched on the event loop only (handlers and done callbacks)

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` in a worker thread; HTTP 429 when `slots` are already running."""
        if self._busy >= self.slots:
            raise HTTPException(
                429,
                f"{self.slots} {self.what} already running; retry in {RETRY_AFTER_S} s",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self._busy += 1
        job = asyncio.ensure_future(asyncio.to_thread(work))
        # Freed when the thread ends, not when the request does: a client that hangs up
        # cannot stop the thread, and its slot must stay taken while the thread runs.
        job.add_done_callback(self._release)
        return await asyncio.shield(job)

    def _release(self, job: asyncio.Future[T]) -> None:
        self._busy -= 1
        if not job.cancelled():
            job.exception()  # retrieved: a render whose client left must not log "never retrieved"
