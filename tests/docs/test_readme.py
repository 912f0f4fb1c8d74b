"""README stays the short front page: its links into docs/ resolve (pages and anchors, as
mkdocs and GitHub name them), its CLI table names every `prewarm` command, and it stays
within three screens. The docs themselves are checked by `make docs` (mkdocs --strict)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from markdown.extensions.toc import slugify

from prewarm_cli import app

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MAX_LINES = 200


def headings(page: Path) -> set[str]:
    """The anchors of a page's headings, outside fenced code."""
    anchors, fenced = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6} (.+)", line)):
            text = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", match.group(1)).replace("`", "")
            anchors.add(slugify(text, "-"))
    return anchors


def test_links_into_the_docs_resolve() -> None:
    links = re.findall(r"\]\((docs/[^)#\s]*)(?:#([^)\s]+))?\)", README.read_text())
    assert links, "README links to no docs page"
    problems = []
    for target, anchor in links:
        page = REPO / target
        if not page.is_file():
            problems.append(f"{target}: no such page")
        elif anchor and anchor not in headings(page):
            problems.append(f"{target}#{anchor}: no such heading")
    assert not problems, problems


def test_the_cli_table_names_every_command() -> None:
    # typer vendors its own click, so the group is used by duck typing.
    group: Any = app if hasattr(app, "list_commands") else typer.main.get_command(app)
    commands = group.list_commands(group.make_context("prewarm", [], resilient_parsing=True))
    assert commands
    table = re.findall(r"^\| `prewarm ([a-z-]+)` \|", README.read_text(), flags=re.MULTILINE)
    assert sorted(table) == sorted(commands)


def test_the_readme_stays_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_LINES, f"README has {lines} lines; move reference text to docs/"
