"""Shared fixtures. `shared_dir`: ../shared beside the project, or skip (fail under CI=true)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# The fuzz suite (tests/fuzz): under CI the same examples every run, so a red CI is a finding
# that `CI=true make test` reproduces, never a lottery; locally new examples each run, with
# the failing ones remembered in .hypothesis/ and tried first next time.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if _ci() else "dev")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "traces").is_dir():
        message = f"{SHARED} is absent (public traces live beside the project, not in it)"
        if _ci():
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return SHARED
