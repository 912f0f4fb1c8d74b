"""The request-level trace every loader produces and the simulator consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class TraceFormatError(ValueError):
    """A trace file is malformed. The message names the file, the line and what is wrong."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class RequestTrace:
    """Requests as parallel arrays, sorted by arrival.

    arrival_s is relative to the trace start (first request at or after 0). Arrays are numpy
    so a week of ~17 M requests stays around 270 MB and every pass over it is vectorised.
    """

    name: str
    arrival_s: np.ndarray  # float64, ascending
    prompt_tokens: np.ndarray  # int32, >= 0
    output_tokens: np.ndarray  # int32, >= 1
    source: str = "synthetic"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        if len(self.prompt_tokens) != n or len(self.output_tokens) != n:
            raise ValueError("arrival_s, prompt_tokens and output_tokens must have equal lengths")

    @classmethod
    def from_unsorted(
        cls,
        name: str,
        arrival_s: Any,
        prompt_tokens: Any,
        output_tokens: Any,
        source: str,
        meta: dict[str, Any] | None = None,
    ) -> RequestTrace:
        """A trace from rows in file order: sorted by arrival (stable, so ties keep file
        order), shifted to start at 0, and with at least one output token per request (a
        request that generated nothing still occupied a decode step)."""
        arrival = np.asarray(arrival_s, dtype=np.float64)
        order = np.argsort(arrival, kind="stable")
        arrival = arrival[order]
        return cls(
            name=name,
            arrival_s=arrival - arrival[0] if arrival.size else arrival,
            prompt_tokens=np.asarray(prompt_tokens, dtype=np.int32)[order],
            output_tokens=np.maximum(np.asarray(output_tokens, dtype=np.int32)[order], 1),
            source=source,
            meta=meta or {},
        )

    @property
    def n_requests(self) -> int:
        return int(len(self.arrival_s))

    @property
    def duration_s(self) -> float:
        """Span from 0 to the last arrival (0 for an empty trace)."""
        return float(self.arrival_s[-1]) if self.n_requests else 0.0

    def describe(self) -> dict[str, Any]:
        """The `trace` section of summary.json."""
        n = max(self.n_requests, 1)
        return {
            "name": self.name,
            "source": self.source,
            "requests": self.n_requests,
            "duration_s": round(self.duration_s, 3),
            "mean_prompt_tokens": round(float(self.prompt_tokens.sum()) / n, 2),
            "mean_output_tokens": round(float(self.output_tokens.sum()) / n, 2),
            **self.meta,
        }
