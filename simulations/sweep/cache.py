"""Sweep results cached by their inputs, so an interrupted or extended sweep replays only
what is new.

A key hashes everything a replay's numbers depend on: the trace as loaded (its digest, the
format, seed, synthesis options, --rate-scale/--length-scale and --from-s/--until-s), the
warm-up, the resolved profile, the policy family, the seed and a fingerprint of the
simulation code (every .py file under autoscaler/ and simulations/ but the CLI's wiring and
the sweep's reports: a change to the planner or the fleet model invalidates every entry).
Entries are JSON files, `<dir>/<key[:2]>/<key>.json`, written to a temporary file and
renamed into place, so an interrupted write leaves no entry rather than a corrupt one; an
unreadable entry counts as missing and is replayed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from simulations.sweep.tasks import PointResult, TraceRef

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
# The fleet model places replicas with scheduler/ when given an inventory.
CODE_PACKAGES = ("autoscaler", "scheduler", "simulations")
# Code that cannot change a replay's numbers: the offline tools that only read series, and
# the sweep's own reporting. Editing a table's layout should not replay a week.
NOT_REPLAY_CODE = (
    "simulations/backtest/",
    "simulations/tune/",
    "simulations/sweep/frontier.py",
    "simulations/sweep/plot.py",
    "simulations/sweep/report.py",
    "simulations/sweep/results.py",
)
CACHE_VERSION = 1  # bump when an entry's layout changes
# Profile keys no replay reads: `prewarm tune` aims at ttft_slo_attainment, the replay only
# measures against ttft_slo_s. Asking what a stricter target costs reads the same replays.
NOT_REPLAY_KEYS = ("ttft_slo_attainment",)


@lru_cache(maxsize=1)
def code_fingerprint(root: Path = PACKAGE_ROOT) -> str:
    """A hash of every .py file under CODE_PACKAGES (paths and contents) but those in
    NOT_REPLAY_CODE."""
    digest = hashlib.blake2b(digest_size=16)
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name.startswith(NOT_REPLAY_CODE):
                continue
            digest.update(name.encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def task_key(
    *,
    trace: TraceRef,
    trace_digest: str,
    warmup_s: float,
    family: str,
    profile: dict[str, Any],
    seed: int,
    code: str,
) -> str:
    """The cache key of one replay: a hash of its canonical JSON inputs."""
    inputs = {
        "version": CACHE_VERSION,
        # The path is not an input: the same requests under another name are the same replay.
        "trace": {**trace.as_dict(), "path": None, "digest": trace_digest},
        "warmup_s": warmup_s,
        "family": family,
        "profile": {k: v for k, v in profile.items() if k not in NOT_REPLAY_KEYS},
        "seed": seed,
        "code": code,
    }
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    """Replay results on disk under `directory`, one JSON file per key."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> PointResult | None:
        try:
            data = json.loads(self._path(key).read_text())
            if data.get("key") != key:
                return None
            return PointResult.from_dict(data["result"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing, partial or from another layout: replay it

    def put(self, key: str, result: PointResult, about: dict[str, Any] | None = None) -> Path:
        """Writes the entry atomically (temporary file in the same folder, then rename)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {"key": key, "about": about or {}, "result": result.as_dict()},
            indent=1,
            allow_nan=False,
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:12]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
