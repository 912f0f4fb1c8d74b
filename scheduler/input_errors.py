"""Reading placement inputs (inventory, demand) from YAML, with every problem reported at once.

Two passes, because the second needs a well-formed document: pydantic checks shape and types
(unknown keys rejected), then each loader checks meaning (a start the profile does not allow,
overlapping slices, duplicate names). Either pass lists all its problems, each as
"<dotted path>: <problem>", under the file name:

    inventory.yaml: 2 problems
      nodes.0.gpus.1.mig.0.start: 3 is not an allowed start for 3g.40gb on H100-80GB (0, 4)
      nodes.1.name: duplicate node name 'gpu-a'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from autoscaler.yaml_files import YamlFileError, read_yaml_file

T = TypeVar("T", bound=BaseModel)


class Strict(BaseModel):
    """Base for input models: unknown keys are errors, values are immutable once read, and
    YAML's `.inf`/`.nan` are no numbers (`memory_gib: .inf` was accepted, sized to no slice,
    and the plan released the model's running slice)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PlacementInputError(ValueError):
    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{source}: {count}\n" + "\n".join(f"  {p}" for p in problems))


def dotted(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def read_yaml(path: Path) -> Any:
    """The file's mapping. A file that is no YAML document (binary, UTF-16, nested past the
    parser, a key given twice, too large) is a PlacementInputError naming it."""
    try:
        data = read_yaml_file(path)
    except YamlFileError as exc:
        raise PlacementInputError(exc.path, [exc.problem]) from None
    if not isinstance(data, dict):
        raise PlacementInputError(str(path), ["<root>: expected a mapping"])
    return data


def parse(model: type[T], data: Any, source: str) -> T:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{dotted(e['loc'])}: {_message(e)}" for e in exc.errors()]
        raise PlacementInputError(source, problems) from None


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")
