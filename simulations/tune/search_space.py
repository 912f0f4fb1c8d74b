"""What `prewarm tune` searches: profile paths and the values each may take.

An axis is a dotted profile path (`target_utilisation`, `forecast.quantile`) with a numeric
range (`--range path=low:high[:step]`, both ends included) or a list of choices (`--choices
path=a,b,c`). The default space covers what an operator would turn by hand:

    forecast.kind               holt-winters, seasonal-naive, kalman, ensemble (kinds that
                                replay a week in seconds; name others with --choices)
    forecast.quantile           0.80 .. 0.99 in steps of 0.01
    target_utilisation          0.50 .. 0.95 in steps of 0.05
    scaling.scale_down_delay_s  0 .. 900 s in steps of 60
    scaling.max_up_replicas     1 .. 16
    forecast.damped_trend       true, false          (holt-winters only)
    forecast.level_window_s     0, 1800, 3600 s      (seasonal-naive only)

`--range`/`--choices` on a default path narrows it; on another path adds an axis; with
`--space given` only the given axes are searched and everything else stays as the profile has
it. A `forecast.*` axis applies to the kinds whose settings have that field and is skipped for
the others (a conditional parameter, which Optuna's samplers handle).

Worked number: `--space given --choices target_utilisation=0.7,0.8,0.9 --range
forecast.quantile=0.9:0.99:0.03` is 3 x 4 = 12 candidates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel

from autoscaler.forecast.registry import FORECASTERS
from autoscaler.profile import ModelProfile, ProfileError
from simulations.sweep.grid import GridError, Scalar, parse_scalar

KIND_PATH = "forecast.kind"
DEFAULT_KINDS = ("holt-winters", "seasonal-naive", "kalman", "ensemble")
SPACES = ("default", "given")


class SpaceError(ValueError):
    """Bad `--range`/`--choices` options; the message names every problem, one per line."""


class Suggester(Protocol):
    """The part of `optuna.Trial` an axis asks (a fake in tests is enough)."""

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class Axis:
    """One searched path. `kind` "float"/"int" use low, high and step (None: continuous);
    "choice" uses `choices`."""

    path: str
    kind: Literal["float", "int", "choice"]
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    choices: tuple[Scalar, ...] = ()

    @property
    def values(self) -> tuple[Scalar, ...] | None:
        """Every value, when finitely many (None for a continuous range)."""
        if self.kind == "choice":
            return self.choices
        if self.step is None:
            return None
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        if self.kind == "int":
            return tuple(int(self.low) + i * int(self.step) for i in range(count))
        return tuple(float(f"{self.low + i * self.step:.12g}") for i in range(count))

    def suggest(self, trial: Suggester) -> Scalar:
        if self.kind == "choice":
            return cast(Scalar, trial.suggest_categorical(self.path, list(self.choices)))
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=step)
        value = trial.suggest_float(self.path, self.low, self.high, step=self.step)
        return float(f"{value:.12g}")  # 0.7000000000000001 -> 0.7, as the sweep's grid has it

    def text(self) -> str:
        if self.kind == "choice":
            return f"{self.path} in {{{', '.join(str(v) for v in self.choices)}}}"
        step = "" if self.step is None else f" step {self.step:g}"
        return f"{self.path} {self.low:g}..{self.high:g}{step}"


DEFAULT_AXES = (
    Axis(KIND_PATH, "choice", choices=DEFAULT_KINDS),
    Axis("forecast.quantile", "float", 0.8, 0.99, 0.01),
    Axis("target_utilisation", "float", 0.5, 0.95, 0.05),
    Axis("scaling.scale_down_delay_s", "int", 0, 900, 60),
    Axis("scaling.max_up_replicas", "int", 1, 16, 1),
    Axis("forecast.damped_trend", "choice", choices=(True, False)),
    Axis("forecast.level_window_s", "choice", choices=(0, 1800, 3600)),
)


def kind_fields(kind: str) -> frozenset[str]:
    settings_cls = cast("type[BaseModel]", FORECASTERS[kind][0])
    return frozenset(settings_cls.model_fields)


@dataclass(frozen=True)
class SearchSpace:
    axes: tuple[Axis, ...]  # forecast.kind first when searched
    base_kind: str  # the profile's kind: the only one when forecast.kind is not searched

    @property
    def kinds(self) -> tuple[str, ...]:
        axis = self.axis(KIND_PATH)
        return tuple(str(v) for v in axis.choices) if axis else (self.base_kind,)

    def axis(self, path: str) -> Axis | None:
        return next((axis for axis in self.axes if axis.path == path), None)

    def applies(self, axis: Axis, kind: str) -> bool:
        """Whether `axis` is searched for a candidate of forecaster `kind`."""
        if axis.path == KIND_PATH or not axis.path.startswith("forecast."):
            return True
        return axis.path.removeprefix("forecast.") in kind_fields(kind)

    def suggest(self, trial: Suggester) -> dict[str, Scalar]:
        """One candidate's values by path, in the axes' order (the kind first)."""
        params: dict[str, Scalar] = {}
        kind = self.base_kind
        for axis in self.axes:
            if not self.applies(axis, kind):
                continue
            params[axis.path] = axis.suggest(trial)
            if axis.path == KIND_PATH:
                kind = str(params[axis.path])
        return params

    @property
    def size(self) -> int | None:
        """Distinct candidates when every axis is finite, else None."""
        total = 0
        for kind in self.kinds:
            count = 1
            for axis in self.axes:
                if axis.path == KIND_PATH or not self.applies(axis, kind):
                    continue
                values = axis.values
                if values is None:
                    return None
                count *= len(values)
            total += count
        return total

    def fits(self, params: Mapping[str, Any]) -> bool:
        """Whether `params` (e.g. the profile's own values) is a point of this space."""
        kind = str(params.get(KIND_PATH, self.base_kind))
        for axis in self.axes:
            if not self.applies(axis, kind):
                continue
            if axis.path not in params:
                return False
            value = params[axis.path]
            if axis.kind == "choice":
                if value not in axis.choices:
                    return False
                continue
            values = axis.values
            if values is not None:
                if not any(math.isclose(float(value), float(v), abs_tol=1e-9) for v in values):
                    return False
            elif not axis.low <= float(value) <= axis.high:
                return False
        return True

    def describe(self) -> str:
        size = self.size
        count = f"{size:,} candidates" if size is not None else "continuous"
        return "; ".join(axis.text() for axis in self.axes) + f" ({count})"


def _split(spec: str, option: str) -> tuple[str, str]:
    path, sep, text = spec.partition("=")
    path, text = path.strip(), text.strip()
    example = "target_utilisation=0.5:0.9" if option == "--range" else "forecast.kind=holt-winters"
    if not sep or not path or not text:
        raise SpaceError(f"{option} {spec!r}: expected path=values, e.g. {example}")
    if any(not part for part in path.split(".")):
        raise SpaceError(f"{option} {spec}: {path!r} is not a dotted path")
    return path, text


def parse_range(spec: str) -> Axis:
    """`path=low:high[:step]` -> Axis; an int axis when every number is an integer."""
    path, text = _split(spec, "--range")
    if path == KIND_PATH:
        raise SpaceError(f"--range {spec}: {KIND_PATH} is a choice, use --choices")
    parts = [part.strip() for part in text.split(":")]
    if len(parts) not in (2, 3):
        raise SpaceError(f"--range {spec}: expected low:high or low:high:step, got {text!r}")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise SpaceError(f"--range {spec}: a range needs numbers, got {text!r}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise SpaceError(f"--range {spec}: a range needs finite numbers, got {text!r}")
    low, high = numbers[:2]
    step = numbers[2] if len(numbers) == 3 else None
    if high < low or (step is not None and step <= 0):
        raise SpaceError(f"--range {spec}: needs low <= high and step > 0, got {text!r}")
    integral = all(part.lstrip("+-").isdigit() for part in parts)
    if integral:
        return Axis(path, "int", low, high, step or 1)
    return Axis(path, "float", low, high, step)


def parse_choices(spec: str) -> Axis:
    path, text = _split(spec, "--choices")
    values = tuple(dict.fromkeys(parse_scalar(v) for v in text.split(",") if v.strip()))
    if not values:
        raise SpaceError(f"--choices {spec}: no values")
    return Axis(path, "choice", choices=values)


def build_space(
    base: ModelProfile,
    ranges: Sequence[str] = (),
    choices: Sequence[str] = (),
    space: str = "default",
) -> SearchSpace:
    """The searched axes: the defaults (or none, with `space="given"`) with the operator's
    `--range`/`--choices` replacing or added. Every value is checked the way a profile file
    is, so a typo fails before a replay runs; SpaceError lists every problem."""
    if space not in SPACES:
        raise SpaceError(f"unknown --space {space!r}; choose from {', '.join(SPACES)}")
    problems: list[str] = []
    given: list[Axis] = []
    for spec, parse in [
        *((s, parse_range) for s in ranges),
        *((s, parse_choices) for s in choices),
    ]:
        try:
            axis = parse(spec)
        except (SpaceError, GridError) as exc:
            problems.append(str(exc))
            continue
        if any(axis.path == other.path for other in given):
            problems.append(f"{axis.path} is given twice (--range/--choices): give it once")
            continue
        given.append(axis)
    if space == "given" and not given and not problems:
        problems.append("--space given searches only --range/--choices axes: give at least one")
    by_path = {axis.path: axis for axis in given}
    axes = [by_path.pop(a.path, a) for a in DEFAULT_AXES] if space == "default" else []
    axes += list(by_path.values())
    kind_axis = next((a for a in axes if a.path == KIND_PATH), None)
    if kind_axis is not None:
        unknown = [str(k) for k in kind_axis.choices if k not in FORECASTERS]
        if unknown:
            problems.append(
                f"--choices {KIND_PATH}: unknown kind(s) {', '.join(unknown)}; known: "
                f"{', '.join(FORECASTERS)}"
            )
        axes = [kind_axis, *(a for a in axes if a is not kind_axis)]
    result = SearchSpace(tuple(axes), base.forecast.kind)
    kinds = tuple(kind for kind in result.kinds if kind in FORECASTERS)
    for axis in result.axes:
        field = axis.path.removeprefix("forecast.")
        if axis.path.startswith("forecast.") and axis.path != KIND_PATH:
            having = [k for k in kinds if field in kind_fields(k)]
            if not having:
                if axis in given:
                    problems.append(
                        f"{axis.path} is not a setting of any searched kind ({', '.join(kinds)})"
                    )
                continue
        else:
            having = list(kinds[:1]) or [base.forecast.kind]
        _check_values(base, axis, having[0], problems)
    if problems:
        raise SpaceError("\n".join(problems))
    # Default forecast axes no searched kind reads are dropped: they would only be noise.
    kept = tuple(
        axis
        for axis in result.axes
        if not axis.path.startswith("forecast.")
        or axis.path == KIND_PATH
        or any(result.applies(axis, k) for k in kinds)
    )
    return SearchSpace(kept, result.base_kind)


def _check_values(base: ModelProfile, axis: Axis, kind: str, problems: list[str]) -> None:
    """Each value (a range's ends) resolved into the profile alone, with `kind` as the
    forecaster for a forecast setting."""
    from simulations.tune.candidate import candidate_profile

    if axis.kind == "choice":
        values: Sequence[Scalar] = axis.choices
    else:
        values = (axis.low, axis.high) if axis.kind == "float" else (int(axis.low), int(axis.high))
    option = "--choices" if axis.kind == "choice" else "--range"
    for value in values:
        params: dict[str, Scalar] = {axis.path: value}
        if axis.path.startswith("forecast.") and axis.path != KIND_PATH:
            params = {KIND_PATH: kind, **params}
        try:
            candidate_profile(base, params, f"{option} {axis.path}={value}")
        except (ProfileError, GridError) as exc:
            problems.append(str(exc))
