"""Exponential backoff with full jitter, for every retrying API loop of the controller.

Delay n (from 0) is uniform in [0, min(cap, base * 2**n)] ("full jitter"): with base 0.5 s and
cap 30 s, the 4th retry waits up to 4 s and from the 7th on up to 30 s. A server's Retry-After
is a floor. Jitter keeps two Prewarm replicas, or many informers after one API server
restart, from retrying in step. Sleep and randomness are injected: tests never wait.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Backoff:
    base_s: float = 0.5
    cap_s: float = 30.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay_s(self, floor_s: float | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0**self.attempt)
        self.attempt += 1
        return max(self.rng.uniform(0.0, ceiling), floor_s or 0.0)

    async def wait(self, floor_s: float | None = None) -> float:
        delay = self.next_delay_s(floor_s)
        await self.sleep(delay)
        return delay

    def reset(self) -> None:
        self.attempt = 0
