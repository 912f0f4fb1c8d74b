"""Shared fixtures. `shared_dir`: ../shared beside the project, or skip (fail under CI=true)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "traces").is_dir():
        message = f"{SHARED} is absent (public traces live beside the project, not in it)"
        if _ci():
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return SHARED
