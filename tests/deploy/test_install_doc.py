"""README's "Install on a cluster" section: every file and folder it names exists."""

from __future__ import annotations

import re

from tests.deploy.manifests import EXAMPLES, REPO

README = REPO / "README.md"


class _Section:
    """The README's install section, read fresh each time."""

    def read_text(self) -> str:
        text = README.read_text()
        start = text.index("## Install on a cluster")
        following = text.find("\n## ", start + 3)
        return text[start : following if following != -1 else None]


INSTALL = _Section()


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
