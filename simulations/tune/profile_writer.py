"""The tuned profile as a file `prewarm serve` loads, with the evidence as YAML comments.

The whole profile is written, every key explicit, so a reviewer sees what serve will run
without merging defaults in their head. Before anything is written the text is read back
through `autoscaler.profile.parse_profile` and must give the very profile that was replayed
(so the file replays to the numbers in its comments); the file is written to a temporary
name and renamed, so a failure leaves no half file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from autoscaler.profile import ModelProfile, ProfileError, parse_profile


def profile_text(profile: ModelProfile, comments: Sequence[str]) -> str:
    """`# comment` lines, then the profile as YAML in the model's field order."""
    header = "".join(f"# {line}".rstrip() + "\n" for line in comments)
    body = yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False)
    return header + body


def check_round_trip(text: str, profile: ModelProfile, source: str) -> None:
    """ProfileError unless `text` parses to `profile` exactly."""
    loaded = parse_profile(yaml.safe_load(text), source)
    if loaded.model_dump(mode="json") != profile.model_dump(mode="json"):
        raise ProfileError(f"{source}: the written profile does not read back as the tuned one")


def write_profile(path: Path, profile: ModelProfile, comments: Sequence[str]) -> Path:
    text = profile_text(profile, comments)
    check_round_trip(text, profile, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
