"""plan.json (what `Plan.to_json()` writes) read back into a Plan, validated at the edge.

Assignments and unplaced entries reject unknown keys and report every problem at once; the
top level keeps keys it does not know in `Plan.extra`, because `to_json()` spreads `extra`
there. A plan that parses is also run through `model_placements`, so a plan the webhook cannot
turn into claims (unknown GPU model, a replica across zones) is rejected at load, not per pod.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scheduler.kubernetes.placement import ModelPlacement, model_placements
from scheduler.plan import Assignment, Plan, Unplaced


class PlanFileError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Assignment(_Strict):
    replica: str = Field(min_length=1)
    model: str = Field(min_length=1)
    node: str = Field(min_length=1)
    gpu: str
    gpu_model: str = Field(min_length=1)
    profile: str = Field(min_length=1)
    start: int | None = Field(None, ge=0)
    instance_type: str
    zone: str
    kept: bool = False


class _Unplaced(_Strict):
    replica: str
    model: str
    reason: str


class _Plan(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    gpus_used: int = Field(ge=0)
    lower_bound_gpus: int = Field(ge=0)
    cost_per_hour: float = Field(ge=0)
    moves: int = Field(ge=0)
    solver: str = ""
    assignments: list[_Assignment]
    unplaced: list[_Unplaced] = []
    reasons: list[str] = []


def plan_from_json(data: Any) -> Plan:
    try:
        parsed = _Plan.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        ]
        raise PlanFileError("; ".join(problems)) from None
    return Plan(
        gpus_used=parsed.gpus_used,
        lower_bound_gpus=parsed.lower_bound_gpus,
        cost_per_hour=parsed.cost_per_hour,
        moves=parsed.moves,
        assignments=tuple(Assignment(**a.model_dump()) for a in parsed.assignments),
        unplaced=tuple(Unplaced(**u.model_dump()) for u in parsed.unplaced),
        reasons=tuple(parsed.reasons),
        solver=parsed.solver,
        extra=dict(parsed.model_extra or {}),
    )


def load_plan(path: Path) -> tuple[Plan, dict[str, ModelPlacement]]:
    """The plan in `path` and its placements by model; PlanFileError names what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanFileError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # `prewarm place` writes UTF-8, as JSON must be
        raise PlanFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}: not JSON: {exc}") from None
    except RecursionError:  # json decodes arrays and objects recursively
        raise PlanFileError(f"{path}: not JSON: nested too deeply") from None
    try:
        plan = plan_from_json(data)
        return plan, model_placements(plan)
    except ValueError as exc:  # PlanFileError, PlanError, UnknownGpuModel
        raise PlanFileError(f"{path}: {exc}") from None
