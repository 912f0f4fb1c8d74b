"""Reading an operator's YAML file: the one loader every profile, config and placement input
goes through, so each refuses the same hostile files with the same words.

What plain `yaml.safe_load` lets through, and this does not:
- a key given twice in one mapping (`cold_start_s: 300` ... `cold_start_s: 30`): YAML keeps
  the last silently, so an edit further down the file wins without a word. It is an error
  naming the key and both lines. Keys merged in with `<<: *defaults` may still be overridden.
- a file that is not UTF-8 text (binary, UTF-16 from a Windows editor): an error, not a
  traceback from the decoder.
- nesting deeper than the parser's recursion (1,000 `[`): an error, not a RecursionError.
- a file too large to parse in memory and time (the parsed document holds ~55 bytes per
  byte read; pure-Python YAML parses ~0.2 MB/s): refused before reading, naming
  MAX_YAML_BYTES.
- aliases that expand to more values than a file of the largest size could hold (the
  "billion laughs": nine nested lists of nine `*a` are 387 M values to validate): refused.

Errors are YamlFileError, a ValueError whose message starts with the file name; callers turn
it into their own error type (ProfileError, PlacementInputError).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

# The largest YAML input of the project is a placement inventory: 100,000 GPUs (the most
# `place` takes) as `prewarm inventory` writes them is ~11 MiB, parsed in ~9 s into ~0.6 GB.
# Sixteen MiB stays under ~1 GB.
MAX_YAML_BYTES = 16 * 1024 * 1024
# Values (scalars, lists and mappings, aliases counted at every use) a document may expand
# to: a 16 MiB file of `[1,1,1,...]` holds ~8 M; more can only come from aliases.
MAX_YAML_VALUES = 10_000_000
_MERGE_TAG = "tag:yaml.org,2002:merge"

# libyaml's parser is ~7x faster and stops nesting at 1,000 levels by itself; the
# constructor (where duplicate keys are caught) is Python either way.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlFileError(ValueError):
    """A YAML file cannot be read as a document. `str()` is "<path>: <problem>"."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class DuplicateKeyError(ConstructorError):
    """A mapping key given twice; `problem` says which key and on which lines."""

    def __init__(self, node: MappingNode, key_node: Node, key: Any, first_line: int) -> None:
        line = key_node.start_mark.line + 1
        self.problem_text = (
            f"duplicate key {key!r} (lines {first_line} and {line}): YAML would silently keep "
            "the last; remove one"
        )
        super().__init__(
            "while constructing a mapping", node.start_mark, self.problem_text, key_node.start_mark
        )


class UniqueKeyLoader(_BaseLoader):  # type: ignore[misc]
    """A safe loader that refuses a mapping key given twice."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            _refuse_duplicate_keys(self, node)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _refuse_duplicate_keys(loader: Any, node: MappingNode) -> None:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue  # `<<: *defaults` is meant to be overridden by the keys beside it
        key = loader.construct_object(key_node, deep=True)
        try:
            seen = first_line.get(key)
        except TypeError:  # an unhashable key: SafeConstructor reports it itself
            continue
        if seen is not None:
            raise DuplicateKeyError(node, key_node, key, seen)
        first_line[key] = key_node.start_mark.line + 1


def load_yaml_text(text: str, name: str = "<yaml>") -> Any:
    """The document in `text`. Raises yaml.YAMLError (duplicate keys included),
    RecursionError for absurd nesting, or ValueError when aliases expand past the limit."""
    stream = io.StringIO(text)
    stream.name = name  # marks in error messages then say `in "<name>", line 3`
    loader = UniqueKeyLoader(stream)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    _check_expansion(data)
    return data


def read_yaml_file(path: str | Path, what: str = "file") -> Any:
    """The YAML document in `path`, or YamlFileError naming the file and the problem.
    `what` names the file's role in the not-found message ("profile file")."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise YamlFileError(
                path,
                f"{size:,} bytes, over the limit of {MAX_YAML_BYTES:,} bytes "
                f"(MAX_YAML_BYTES) for a YAML input",
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise YamlFileError(path, f"{what} not found") from None
    except OSError as exc:  # a directory, no permission
        raise YamlFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        # utf-8-sig: a BOM some editors write is not part of the first key.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # ConfigMaps and editors write UTF-8; UTF-16 is a mistake
        raise YamlFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return load_yaml_text(text, str(path))
    except DuplicateKeyError as exc:
        raise YamlFileError(path, exc.problem_text) from None
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml stops at 1,000 levels by itself
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise YamlFileError(path, f"not valid YAML: nested too deeply{where}") from None
        raise YamlFileError(path, f"not valid YAML: {exc}") from None
    except RecursionError:  # the pure-Python composer recurses per level: ~300 exhaust it
        raise YamlFileError(path, "not valid YAML: nested too deeply") from None
    except ValueError as exc:  # aliases expanding past the limit
        raise YamlFileError(path, str(exc)) from None


def _check_expansion(data: Any) -> None:
    """Counts values as a validator will visit them (an alias at each use), stopping at the
    limit, so the count itself costs at most MAX_YAML_VALUES steps. A self-referencing
    alias (`&a [*a]`) never ends and is refused the same way."""
    pending = [data]
    count = 0
    while pending:
        value = pending.pop()
        count += 1
        if count > MAX_YAML_VALUES:
            raise ValueError(
                f"the document expands to over {MAX_YAML_VALUES:,} values (MAX_YAML_VALUES); "
                "YAML aliases (*name) repeat what they point to at every use"
            )
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
