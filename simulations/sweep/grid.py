"""The sweep's grid: `--set path=values` parsed, checked against the profile, multiplied out.

A value list is `a:b:step` (a range, both ends included), `v1,v2,...` or one value. Each path
is a dotted path into the profile (`forecast.quantile`), and every value is checked the way
a profile file is (the override applied to the profile, the result parsed by
`autoscaler.profile.parse_profile`), so a typo fails before anything runs, with every bad
path and value named at once.

Worked number: `target_utilisation=0.5:0.9:0.1` gives 0.5, 0.6, 0.7, 0.8, 0.9 (computed as
0.5 + i x 0.1 and rounded to 12 significant digits, so 0.7 is 0.7, not 0.7000000000000001),
and with `forecast.quantile=0.8,0.9,0.95` the grid has 5 x 3 = 15 combinations.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autoscaler.profile import ModelProfile, ProfileError, parse_profile

Scalar = bool | int | float | str
Overrides = tuple[tuple[str, Scalar], ...]  # (path, value) pairs in --set order: hashable

MAX_VALUES_PER_KEY = 1000
MAX_COMBINATIONS = 10_000


class GridError(ValueError):
    """Bad `--set` options; the message names every problem, one per line."""


@dataclass(frozen=True)
class Axis:
    """One `--set`: a profile path and the values it takes."""

    path: str
    values: tuple[Scalar, ...]


def parse_scalar(text: str) -> Scalar:
    """`300` -> 300, `0.9` -> 0.9, `true` -> True, anything else stays text (`holt-winters`)."""
    text = text.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value


def _range(text: str, spec: str) -> tuple[Scalar, ...]:
    parts = text.split(":")
    if len(parts) != 3:
        raise GridError(f"--set {spec}: a range is start:stop:step, got {text!r}")
    try:
        start, stop, step = (float(part) for part in parts)
    except ValueError:
        raise GridError(f"--set {spec}: a range needs numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise GridError(f"--set {spec}: a range needs finite numbers, got {text!r}")
    if step <= 0 or stop < start:
        raise GridError(f"--set {spec}: a range needs step > 0 and stop >= start, got {text!r}")
    # Float-safe count: 0.5:0.9:0.1 is 4.000000000000001 steps, and the end is included.
    steps = math.floor((stop - start) / step + 1e-9)
    if steps + 1 > MAX_VALUES_PER_KEY:
        raise GridError(
            f"--set {spec}: {steps + 1:,} values (at most {MAX_VALUES_PER_KEY:,} per key)"
        )
    values = [float(f"{start + i * step:.12g}") for i in range(steps + 1)]
    integral = all(part.strip().lstrip("+-").isdigit() for part in parts)  # 0:600:300
    return tuple(int(v) for v in values) if integral else tuple(values)


def parse_set(spec: str) -> Axis:
    """`path=values` -> Axis; GridError naming the option when it cannot be read."""
    path, sep, text = spec.partition("=")
    path = path.strip()
    if not sep or not path or not text.strip():
        raise GridError(
            f"--set {spec!r}: expected path=values, e.g. target_utilisation=0.5:0.9:0.1"
        )
    if any(not part for part in path.split(".")):
        raise GridError(f"--set {spec}: {path!r} is not a dotted path")
    text = text.strip()
    if ":" in text and "," not in text:
        values = _range(text, spec)
    else:
        values = tuple(parse_scalar(item) for item in text.split(",") if item.strip())
        if not values:
            raise GridError(f"--set {spec}: no values")
    return Axis(path, tuple(dict.fromkeys(values)))  # repeats dropped, order kept


def apply_overrides(data: Mapping[str, Any], overrides: Overrides) -> dict[str, Any]:
    """A deep copy of the profile dict with each dotted path set. A path through a value
    that is not a section (`target_utilisation.x`) is a GridError; an unknown final key is
    left for the profile parser, which names it."""
    result = copy.deepcopy(dict(data))
    for path, value in overrides:
        node: dict[str, Any] = result
        parts = path.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise GridError(f"--set {path}: {where} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return result


def resolve(base: ModelProfile, overrides: Overrides, source: str) -> ModelProfile:
    """The base profile with `overrides` applied, parsed as a profile file would be."""
    return parse_profile(apply_overrides(base.model_dump(mode="json"), overrides), source)


def _describe(overrides: Overrides) -> str:
    return " ".join(f"{path}={value}" for path, value in overrides) or "(the profile as given)"


@dataclass(frozen=True)
class Grid:
    axes: tuple[Axis, ...]

    @property
    def size(self) -> int:
        return math.prod(len(axis.values) for axis in self.axes)

    def combinations(self) -> list[Overrides]:
        """Every combination, the last --set varying fastest; one empty one without --set."""
        paths = [axis.path for axis in self.axes]
        return [
            tuple(zip(paths, values, strict=True))
            for values in itertools.product(*(axis.values for axis in self.axes))
        ]


def build_grid(specs: Sequence[str], base: ModelProfile) -> Grid:
    """Parses every `--set` and checks it against `base`: each value alone, then each
    combination (cross-field rules such as replicas.min <= replicas.max). Raises GridError
    listing every problem found."""
    problems: list[str] = []
    axes: list[Axis] = []
    for spec in specs:
        try:
            axis = parse_set(spec)
        except GridError as exc:
            problems.append(str(exc))
            continue
        if any(axis.path == other.path for other in axes):
            problems.append(f"--set {axis.path} is given twice; list its values in one --set")
            continue
        axes.append(axis)
    for axis in axes:
        for value in axis.values:
            try:
                resolve(base, ((axis.path, value),), f"--set {axis.path}={value}")
            except (GridError, ProfileError) as exc:
                problems.append(str(exc))
    if problems:
        raise GridError("\n".join(problems))
    grid = Grid(tuple(axes))
    if grid.size > MAX_COMBINATIONS:
        raise GridError(
            f"--set: {grid.size:,} combinations (at most {MAX_COMBINATIONS:,}); sweep fewer values"
        )
    bad = []
    for overrides in grid.combinations():
        try:
            resolve(base, overrides, f"--set {_describe(overrides)}")
        except ProfileError as exc:
            bad.append(str(exc))
    if bad:
        shown = bad[:5] + ([f"... and {len(bad) - 5} more combinations"] if len(bad) > 5 else [])
        raise GridError("\n".join(shown))
    return grid


def describe(overrides: Overrides) -> str:
    """`target_utilisation=0.7 forecast.quantile=0.9`, for tables and logs."""
    return _describe(overrides)
