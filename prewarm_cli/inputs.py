"""Inputs more than one command reads the same way: the profile and the output folder."""

from __future__ import annotations

import math
import os
from pathlib import Path

from autoscaler.profile import BUNDLED_PROFILE, ModelProfile, load_profile, parse_profile


def cli_profile(path: Path | None, cold_start_s: float | None = None) -> ModelProfile:
    """`--profile` (omitted: the bundled example), with `--cold-start-s` applied when given.
    Raises ProfileError naming the file and every bad field, ValueError for the cold start."""
    profile = load_profile(path or BUNDLED_PROFILE)
    if cold_start_s is not None:
        # Validated as the profile's own field (finite, at most two hours): model_copy would
        # not check it, and the option's min=0 lets `inf` through.
        if not math.isfinite(cold_start_s):
            raise ValueError(
                f"--cold-start-s must be a finite number of seconds, got {cold_start_s}"
            )
        data = {**profile.model_dump(), "cold_start_s": cold_start_s}
        profile = parse_profile(data, "--cold-start-s")
    return profile


def check_out_dir(out: Path) -> None:
    """Raises ValueError naming `--out` when the report could not be written there, before
    a replay that can take minutes; nothing is created yet (it is, once there is a report)."""
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is not a directory" if existing == out else f"is inside {existing}, a file"
        raise ValueError(f"--out {out} {what}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: {existing} is not writable")
