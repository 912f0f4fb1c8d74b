"""The committed locks: complete, hashed, consistent with pyproject, and what installs use."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.manifests import REPO

DEV_LOCK = REPO / "requirements" / "dev.txt"
RUNTIME_LOCK = REPO / "requirements" / "runtime.txt"
RAY_LOCK = REPO / "requirements" / "ray.txt"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def pins(lock: Path) -> dict[str, set[str]]:
    """Each locked package's versions (a universal lock may pin one per Python range)."""
    found: dict[str, set[str]] = {}
    for entry in re.split(r"\n(?=\S)", lock.read_text()):
        if entry.startswith("#") or not entry.strip():
            continue
        requirement = Requirement(entry.split("\\")[0].strip())
        assert "--hash=sha256:" in entry, f"{lock.name}: {requirement.name} has no hash"
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{lock.name}: {requirement} is not an exact pin"
        found.setdefault(canonicalize_name(requirement.name), set()).add(specifier.version)
    return found


@pytest.mark.parametrize(
    "requirements",
    [
        pytest.param(PYPROJECT["project"]["dependencies"], id="runtime"),
        pytest.param(PYPROJECT["project"]["optional-dependencies"]["dev"], id="dev"),
        pytest.param(PYPROJECT["project"]["optional-dependencies"]["ray"], id="ray"),
        pytest.param(PYPROJECT["build-system"]["requires"], id="build-system"),
    ],
)
def test_every_declared_requirement_is_pinned_within_its_range(requirements: list[str]) -> None:
    locked = pins(DEV_LOCK)
    for text in requirements:
        requirement = Requirement(text)
        versions = locked.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is declared but not in {DEV_LOCK.name}: make lock"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{requirement.name}=={version} is outside pyproject's {requirement}: make lock"
            )


def test_runtime_lock_is_the_dev_lock_without_the_dev_tools() -> None:
    dev, runtime = pins(DEV_LOCK), pins(RUNTIME_LOCK)
    assert runtime, "empty runtime lock"
    for name, versions in runtime.items():
        assert versions == dev.get(name), f"{name}: runtime {versions} vs dev {dev.get(name)}"
    assert "pytest" not in runtime and "uv" not in runtime
    # The image serves KEDA; Ray (~80 MB wheel, ~245 MB installed) is for sweeps only.
    assert "ray" not in runtime


def test_ray_lock_is_the_runtime_lock_with_ray_at_the_dev_versions() -> None:
    dev, runtime, with_ray = pins(DEV_LOCK), pins(RUNTIME_LOCK), pins(RAY_LOCK)
    for name, versions in with_ray.items():
        assert versions == dev.get(name), f"{name}: ray lock {versions} vs dev {dev.get(name)}"
    assert runtime.keys() <= with_ray.keys() and "ray" in with_ray
    assert "pytest" not in with_ray
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements/ray.txt" in dockerfile


def test_the_dev_lock_has_every_extra() -> None:
    makefile = (REPO / "Makefile").read_text()
    for extra in PYPROJECT["project"]["optional-dependencies"]:
        assert f"--extra {extra} " in makefile, f"make lock does not resolve the {extra} extra"


def test_make_and_the_image_install_exactly_the_locks() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r $(DEV_LOCK)" in makefile
    assert "DEV_LOCK := requirements/dev.txt" in makefile
    assert re.search(r"pip install .*--no-deps --no-build-isolation -e \.", makefile)
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements/runtime.txt" in dockerfile
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
    assert "--upgrade" not in dockerfile, "an unpinned upgrade would bypass the lock"
