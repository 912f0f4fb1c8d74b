"""Server-side apply's field ownership, at leaf granularity: a field path is a chain of map
keys (`.data.placement.json`, `.metadata.labels.app`) ending at a scalar, a list or an empty
map. That is enough to report the conflicts the real server reports for ConfigMap data, labels,
annotations and spec fields.

Where the real server is finer: it merges lists of maps by their keys (`containers` by name,
`requests` by name), so two managers can own different items of one list. Here a list is one
atomic field, so two managers writing different items of one list conflict; the real server
would let them share it. Our writer owns whole objects, so the difference does not arise.

Ownership lives outside the object and is rendered into `metadata.managedFields` in the real
`FieldsV1` form ({"f:data": {"f:placement.json": {}}}), one entry per (manager, operation).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

Path = tuple[str, ...]
_SYSTEM_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)


@dataclass
class Entry:
    manager: str
    operation: str  # "Apply" or "Update"
    api_version: str
    time: str
    paths: set[Path] = field(default_factory=set)

    def describe(self) -> str:
        """How the real server names a manager in a conflict (apimachinery's printManager):
        an applier by name, an updater with its apiVersion and time."""
        if self.operation == "Update":
            return f'"{self.manager}" using {self.api_version} at {self.time}'
        return f'"{self.manager}"'

    def render(self) -> dict[str, Any]:
        return {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(self.paths),
        }


def leaves(obj: dict[str, Any] | None, skip_status: bool) -> dict[Path, Any]:
    """Every owned leaf of `obj` and its value; identity and system metadata are nobody's."""
    found: dict[Path, Any] = {}

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(child, (*path, str(key)))
        else:
            found[path] = value

    for key, value in (obj or {}).items():
        if key in ("apiVersion", "kind") or (skip_status and key == "status"):
            continue
        if key == "metadata" and isinstance(value, dict):
            for meta_key, meta_value in value.items():
                if meta_key not in _SYSTEM_METADATA:
                    walk(meta_value, ("metadata", meta_key))
        else:
            walk(value, (key,))
    return found


def fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


def dotted(path: Path) -> str:
    return "." + ".".join(path)


def _overlaps(a: Path, b: Path) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def _value_at(obj: dict[str, Any] | None, path: Path) -> Any:
    value: Any = obj
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


_MISSING = object()


def _remove(obj: dict[str, Any], path: Path) -> None:
    """Deletes the leaf, then the maps it leaves empty (not `metadata` itself)."""
    chain = [obj]
    for part in path[:-1]:
        child = chain[-1].get(part)
        if not isinstance(child, dict):
            return
        chain.append(child)
    chain[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 0, -1):
        if chain[depth] or path[:depth] == ("metadata",):
            break
        chain[depth - 1].pop(path[depth - 1], None)


def _set(obj: dict[str, Any], path: Path, value: Any) -> None:
    node = obj
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = copy.deepcopy(value)


def apply(
    current: dict[str, Any] | None,
    entries: list[Entry],
    config: dict[str, Any],
    manager: str,
    force: bool,
    stamp: tuple[str, str],  # (apiVersion, time)
    skip_status: bool,
) -> tuple[dict[str, Any], list[Entry], list[tuple[str, str]]]:
    """The merged object, the new ownership, and the conflicts (manager, field) it found.

    With conflicts and no force the caller refuses the request; with force the applier takes
    the fields and the other managers lose them. A field this manager applied before and
    leaves out now is removed unless another manager still owns it."""
    wanted = leaves(config, skip_status)
    conflicts = []
    taken: set[tuple[int, Path]] = set()
    for index, entry in enumerate(entries):
        if (entry.manager, entry.operation) == (manager, "Apply"):
            continue
        for owned in entry.paths:
            for path, value in wanted.items():
                if _overlaps(owned, path) and _value_at(current, path) != value:
                    conflicts.append((entry.describe(), dotted(owned)))
                    taken.add((index, owned))
    conflicts = sorted(set(conflicts))
    if conflicts and not force:
        return current or {}, entries, conflicts
    merged = copy.deepcopy(current) if current else {}
    mine = next((e for e in entries if (e.manager, e.operation) == (manager, "Apply")), None)
    others = [e for e in entries if e is not mine]
    for index, entry in enumerate(entries):
        entry.paths -= {p for i, p in taken if i == index}
    if mine is not None:
        for path in mine.paths - set(wanted):
            if not any(_overlaps(path, p) for e in others for p in e.paths):
                _remove(merged, path)
    for path, value in wanted.items():
        _set(merged, path, value)
    new_mine = Entry(manager, "Apply", stamp[0], stamp[1], set(wanted))
    kept = [e for e in others if e.paths]
    return merged, [*kept, new_mine], conflicts


def update(
    current: dict[str, Any] | None,
    new: dict[str, Any],
    entries: list[Entry],
    manager: str,
    stamp: tuple[str, str],
    skip_status: bool,
) -> list[Entry]:
    """A create, replace or merge patch: the writer owns every leaf it changed; the others
    lose those (no conflict is ever reported for a non-apply write, as on the real server)."""
    before, after = leaves(current, skip_status), leaves(new, skip_status)
    changed = {p for p in after if before.get(p, _MISSING) != after[p]}
    removed = set(before) - set(after)
    for entry in entries:
        entry.paths = {
            p for p in entry.paths if not any(_overlaps(p, c) for c in changed | removed)
        }
    mine = next((e for e in entries if (e.manager, e.operation) == (manager, "Update")), None)
    if mine is None:
        mine = Entry(manager, "Update", stamp[0], stamp[1])
        entries = [*entries, mine]
    mine.paths |= changed
    mine.api_version, mine.time = stamp
    return [e for e in entries if e.paths]
