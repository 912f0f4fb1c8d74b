"""The one YAML loader of every operator file: hostile files are a YamlFileError naming the
file and the problem, never a traceback of another type, never a silent last-wins key."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler import yaml_files
from autoscaler.profile import ProfileError, load_profile
from autoscaler.yaml_files import YamlFileError, read_yaml_file
from scheduler.demand import load_demand
from scheduler.input_errors import PlacementInputError

BILLION_LAUGHS = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"a: 1\nb: 2\na: 3\n", ["duplicate key 'a' (lines 1 and 3)"]),
        (b"outer:\n  x: 1\n  x: 1\n", ["duplicate key 'x' (lines 2 and 3)"]),
        (bytes(range(256)), ["not UTF-8 text"]),
        ("a: 1\n".encode("utf-16"), ["not UTF-8 text"]),
        (b"a: x\x00y\n", ["not valid YAML", "control characters"]),
        (b"a: " + b"[" * 1000 + b"]" * 1000, ["nested too deeply"]),
        (b"".join(b" " * i + b"a:\n" for i in range(1100)), ["nested too deeply"]),
        (BILLION_LAUGHS.encode(), ["10,000,000 values", "MAX_YAML_VALUES", "aliases"]),
        (b"&a [*a, *a]\n", ["MAX_YAML_VALUES"]),
        (b"a: [unclosed\n", ["not valid YAML"]),
        (b"a: 1\n---\nb: 2\n", ["not valid YAML", "single document"]),
    ],
    ids=[
        "duplicate-key",
        "nested-duplicate",
        "binary",
        "utf-16",
        "nul",
        "deep-flow",
        "deep-block",
        "alias-bomb",
        "self-alias",
        "unclosed",
        "two-documents",
    ],
)
def test_a_hostile_file_is_an_error_naming_it(
    tmp_path: Path, content: bytes, words: list[str]
) -> None:
    path = tmp_path / "input.yaml"
    path.write_bytes(content)
    with pytest.raises(YamlFileError) as err:
        read_yaml_file(path)
    assert str(err.value).startswith(f"{path}: ")
    for word in words:
        assert word in str(err.value)


def test_merged_keys_may_be_overridden_and_a_bom_is_not_a_key(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_bytes(b"\xef\xbb\xbfbase: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n")
    assert read_yaml_file(path) == {"base": {"x": 1, "y": 2}, "c": {"x": 3, "y": 2}}


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yaml_files, "MAX_YAML_BYTES", 100)
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 200 + "\n")
    with pytest.raises(YamlFileError, match=r"204 bytes, over the limit of 100 bytes"):
        read_yaml_file(path)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(YamlFileError, match="absent.yaml: profile file not found"):
        read_yaml_file(tmp_path / "absent.yaml", "profile file")
    with pytest.raises(YamlFileError, match="cannot read"):
        read_yaml_file(tmp_path)


def test_a_profile_with_a_key_given_twice_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text(
        "model: m\ncapacity: {prompt_tokens_per_s: 1, generation_tokens_per_s: 1,"
        " kv_cache_tokens: 1}\ncold_start_s: 300\ncold_start_s: 30\n"
    )
    with pytest.raises(ProfileError, match=f"{path}: .*duplicate key 'cold_start_s'"):
        load_profile(path)


def test_a_demand_with_a_key_given_twice_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "demand.yaml"
    path.write_text("models:\n  - {name: a, replicas: 1, replicas: 9, memory_gib: 10}\n")
    with pytest.raises(PlacementInputError, match="duplicate key 'replicas'") as err:
        load_demand(path)
    assert err.value.source == str(path)
