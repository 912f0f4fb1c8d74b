"""The MetricSource seam: one model's observations, now and over a past range.

Production reads Prometheus (`prometheus_source.py`); `prewarm serve --demo` reads the
built-in vLLM emulator; tests use fakes with error injection. Implementations may do I/O,
so they are async; callers never await them on an RPC path, only in background refreshers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from autoscaler.observation import Observation


@dataclass(frozen=True)
class ModelQuery:
    """Which series to read: vLLM's `model_name` label, optionally one namespace."""

    model: str
    namespace: str | None = None


class MetricSourceError(Exception):
    """The source could not answer (unreachable, bad response). The message says why."""


class MetricSource(Protocol):
    async def latest(self, query: ModelQuery, now_s: float) -> Observation | None:
        """The observation at `now_s` (epoch s), or None when the model has no series yet.
        Raises MetricSourceError when the source itself fails."""
        ...

    async def history(
        self, query: ModelQuery, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        """Observations every `step_s` in [start_s, end_s], oldest first, for back-filling
        the forecaster's window after a restart. Steps without data are left out."""
        ...
