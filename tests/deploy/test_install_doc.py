"""The install guide (docs/install.md): every file and folder it names exists."""

from __future__ import annotations

import re

from tests.deploy.manifests import EXAMPLES, REPO

INSTALL = REPO / "docs" / "install.md"


def test_every_path_the_guide_names_exists() -> None:
    text = INSTALL.read_text()
    paths = set(re.findall(r"(?<![\w/.-])\.?/?(deploy/[\w./-]*[\w])", text))
    assert paths, "the guide names no deploy/ paths"
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, missing


def test_the_guide_covers_every_example() -> None:
    text = INSTALL.read_text()
    unmentioned = sorted(
        str(p.relative_to(EXAMPLES))
        for p in EXAMPLES.rglob("*.yaml")
        if p.name not in text and p.name not in ("namespace.yaml", "kustomization.yaml")
    )
    assert not unmentioned, unmentioned


def test_the_guide_applies_each_overlay() -> None:
    text = INSTALL.read_text()
    for overlay in ("dev", "production"):
        assert f"kubectl apply -k deploy/overlays/{overlay}" in text
