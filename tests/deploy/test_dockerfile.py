"""The Dockerfile, read statically (no Docker engine here): multi-stage, non-root, right entry."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass, field

import pytest

from tests.deploy.manifests import CONFIG_DIR, REPO, build, container, one

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for k, args in self.instructions if k == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions; continuation lines joined, ARG defaults resolved in FROM."""
    text = re.sub(r"\\\n", " ", text)
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), rest).split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, rest))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not exec form: {args}"
    return value


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Go's filepath.Match plus `**` (any number of folders)."""
    out = ""
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/")):
        out += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
    return re.compile(out)


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def dockerignore() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_multi_stage_on_slim_python_3_11(stages: list[Stage], final: Stage) -> None:
    assert len(stages) >= 2
    builder = stages[0]
    assert builder.name == "builder"
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", final.base)
    assert builder.base == final.base, "the venv's python symlink must exist in the final image"
    assert any(re.search(r"\bpip install (--[\w-]+ )*\.(\s|$)", run) for run in builder.all("RUN"))
    assert not any("pip install -e" in run for run in builder.all("RUN")), "no editable install"


def test_final_stage_only_copies_the_venv(final: Stage) -> None:
    copies = final.all("COPY")
    assert copies and all(c.startswith("--from=builder ") for c in copies)
    for run in final.all("RUN"):
        assert not re.search(r"\b(pip|apt-get|gcc|make)\b", run), (
            f"build work in final stage: {run}"
        )


def test_runs_as_a_numeric_non_root_user(final: Stage) -> None:
    (user,) = final.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0
    assert not gid or (gid.isdigit() and int(gid) > 0)
    pod = one(build("base"), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid)


def test_entrypoint_and_cmd(final: Stage) -> None:
    assert exec_form(final.all("ENTRYPOINT")[-1]) == ["prewarm"]
    cmd = exec_form(final.all("CMD")[-1])
    assert cmd == ["serve", "--config", "/etc/prewarm/prewarm.yaml"]
    assert container(build("base"))["args"] == cmd, "the Deployment runs the image's default"
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert "prewarm" in scripts


def test_exposes_the_configured_ports(final: Stage) -> None:
    import yaml

    config = yaml.safe_load((CONFIG_DIR / "prewarm.yaml").read_text())
    exposed = {int(p.split("/")[0]) for e in final.all("EXPOSE") for p in e.split()}
    assert exposed == {config["grpc"]["port"], config["http"]["port"]}


def test_build_context_has_what_pip_install_needs(
    stages: list[Stage], dockerignore: list[str]
) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {
        p.name
        for p in REPO.iterdir()
        if p.is_dir() and any(fnmatch.fnmatch(p.name, pattern) for pattern in packages)
    }
    copied: set[str] = set()
    for stage in stages:
        for args in stage.all("COPY"):
            if args.startswith("--from="):
                continue
            *sources, _ = args.split()
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
                assert not ignored(source, dockerignore), (
                    f"COPY {source}: excluded by .dockerignore"
                )
                copied.add(source.rstrip("/"))
    assert needed <= copied, sorted(needed - copied)


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("prewarm_cli/serve.py", False),
        ("autoscaler/__pycache__/x.pyc", True),
        (".venv/bin/python", True),
        ("tests/deploy/test_dockerfile.py", True),
        (".git/config", True),
        ("pyproject.toml", False),
    ],
)
def test_dockerignore_keeps_the_context_small(
    path: str, excluded: bool, dockerignore: list[str]
) -> None:
    assert ignored(path, dockerignore) is excluded
