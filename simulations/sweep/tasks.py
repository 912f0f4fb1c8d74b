"""What a sweep sends to a worker and gets back: plain, picklable values.

A task names its trace by reference (path, format, seed, synthesis options), not by its
arrays: a worker loads each trace once and keeps it for the next task on the same trace
(`replay.run_task`), and a remote executor (Ray) ships a few hundred bytes per task instead
of a week of requests. Results are plain numbers, so they are cached as JSON.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulations.sweep.grid import Overrides
from simulations.traces.inputs import load_trace_input
from simulations.traces.request_trace import RequestTrace
from simulations.traces.scale import TraceScale
from simulations.traces.window import TraceWindow


@dataclass(frozen=True)
class TraceRef:
    """How to load a trace: `load_trace_input`'s arguments. `path` None is the bundled trace.
    Every field is in the replay cache's key (`cache.task_key`), the scales and the window
    among them."""

    path: str | None
    fmt: str
    seed: int = 0
    process: str = "poisson"
    cv: float = 1.0
    max_requests: int | None = None
    rate_scale: float = 1.0  # TraceScale's fields, as plain numbers for the key's JSON
    length_scale: float = 1.0
    from_s: float | None = None  # TraceWindow's fields, likewise
    until_s: float | None = None

    @property
    def scale(self) -> TraceScale:
        return TraceScale(self.rate_scale, self.length_scale)

    @property
    def window(self) -> TraceWindow:
        return TraceWindow(self.from_s, self.until_s)

    def load(self) -> RequestTrace:
        return load_trace_input(
            None if self.path is None else Path(self.path),
            self.fmt,
            seed=self.seed,
            process=self.process,
            cv=self.cv,
            max_requests=self.max_requests,
            scale=self.scale,
            window=self.window,
        )

    @property
    def label(self) -> str:
        """Short name for tables and plots: the file name, or `bundled`."""
        return "bundled" if self.path is None else Path(self.path).name

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def trace_digest(trace: RequestTrace) -> str:
    """The requests as replayed (arrivals and token counts): a changed file, sibling token
    file, seed or loader gives another digest. ~0.3 s for a week of 17 M requests."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (trace.arrival_s, trace.prompt_tokens, trace.output_tokens):
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        digest.update(little.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class SweepTask:
    """One replay: a policy family on a trace with a resolved profile.

    `profile` is the resolved profile as JSON-safe data (`ModelProfile.model_dump("json")`),
    `overrides` the part of the grid this family reads (for reports), `key` the cache key
    of all inputs (`cache.task_key`).
    """

    key: str
    trace: TraceRef
    trace_digest: str
    warmup_s: float
    family: str
    overrides: Overrides
    profile: dict[str, Any]
    seed: int


@dataclass(frozen=True)
class PointResult:
    """A replay's numbers: `metrics` has summary.json's per-policy keys
    (`simulations.report.summary.policy_summary`), `requests` the scored requests.
    `replay_s` and `peak_rss_mib` describe the run, not the result (not deterministic)."""

    metrics: dict[str, Any]
    requests: int
    replay_s: float = 0.0
    peak_rss_mib: float = 0.0
    worker: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PointResult:
        return cls(
            metrics=dict(data["metrics"]),
            requests=int(data["requests"]),
            replay_s=float(data.get("replay_s", 0.0)),
            peak_rss_mib=float(data.get("peak_rss_mib", 0.0)),
            worker=str(data.get("worker", "")),
        )
