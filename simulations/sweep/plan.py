"""A sweep's plan: every (trace, family, grid combination) reduced to distinct replays.

Each trace is loaded once here to check it (requests, span, warm-up) and to take its
digest; workers load it again from its reference. Each family gets every combination
restricted to the keys it reads (`families.effective`) plus the profile as given (its
reference point, always run: "predictive at the defaults" is what the other families are
compared with), and points whose resolved inputs are equal are one replay.

Worked number: 15 combinations (5 target utilisations x 3 quantiles) for predictive,
reactive-tokens and oracle on one trace are 45 points but 15 + 5 + 5 = 25 replays (the
reference points are among them when 0.8 and 0.95 are in the grid).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from autoscaler.profile import ModelProfile
from simulations.sweep.cache import task_key
from simulations.sweep.families import effective, ignored_paths
from simulations.sweep.grid import Grid, Overrides, resolve
from simulations.sweep.tasks import SweepTask, TraceRef, trace_digest
from simulations.traces.inputs import replay_warmup_s
from simulations.traces.request_trace import RequestTrace


@dataclass(frozen=True)
class SweepTrace:
    label: str  # unique within the sweep: tables, plots and sweep.json use it
    ref: TraceRef
    digest: str
    warmup_s: float
    info: dict[str, Any]  # RequestTrace.describe()


@dataclass(frozen=True)
class SweepPoint:
    """One distinct replay as reported: `overrides` are the ones its family reads;
    `at_profile` marks the profile as given (no override changes a value it reads)."""

    trace: str
    family: str
    overrides: Overrides
    at_profile: bool
    key: str


@dataclass(frozen=True)
class SweepPlan:
    traces: tuple[SweepTrace, ...]
    families: tuple[str, ...]
    grid: Grid
    points: tuple[SweepPoint, ...]
    tasks: tuple[SweepTask, ...]  # one per distinct key, trace by trace, slowest family first
    ignored: dict[str, list[str]]  # family -> swept paths it does not read
    seed: int
    code: str  # the code fingerprint in every key

    @property
    def requested(self) -> int:
        """Points before removing repeats: combinations x families x traces."""
        return max(self.grid.size, 1) * len(self.families) * len(self.traces)


def load_traces(
    refs: Sequence[TraceRef],
    warmup_s: float | None,
    load: Callable[[TraceRef], RequestTrace] = TraceRef.load,
) -> list[SweepTrace]:
    """Loads and checks each trace (ValueError naming the problem), keeping only what the
    plan needs; the requests themselves are dropped before the next trace is loaded."""
    traces: list[SweepTrace] = []
    labels: set[str] = set()
    for ref in refs:
        trace = load(ref)
        warmup = replay_warmup_s(trace, warmup_s)
        label, n = ref.label, 2
        while label in labels:
            label, n = f"{ref.label}#{n}", n + 1
        labels.add(label)
        traces.append(SweepTrace(label, ref, trace_digest(trace), warmup, trace.describe()))
        del trace
    return traces


def sweep_task(
    trace: SweepTrace,
    family: str,
    profile: dict[str, Any],
    overrides: Overrides,
    seed: int,
    code: str,
) -> SweepTask:
    """One replay of `profile` (JSON-safe data) by `family` on `trace`, keyed by all its
    inputs: the same point gets the same key from a sweep and from `prewarm tune`."""
    key = task_key(
        trace=trace.ref,
        trace_digest=trace.digest,
        warmup_s=trace.warmup_s,
        family=family,
        profile=profile,
        seed=seed,
        code=code,
    )
    return SweepTask(
        key=key,
        trace=trace.ref,
        trace_digest=trace.digest,
        warmup_s=trace.warmup_s,
        family=family,
        overrides=overrides,
        profile=profile,
        seed=seed,
    )


def plan_sweep(
    traces: Sequence[SweepTrace],
    families: Sequence[str],
    grid: Grid,
    base: ModelProfile,
    *,
    seed: int,
    code: str,
) -> SweepPlan:
    """The distinct replays of the sweep (the grid is already checked by `build_grid`)."""
    base_data = base.model_dump(mode="json")
    combinations = grid.combinations()
    points: dict[str, SweepPoint] = {}
    tasks: dict[str, SweepTask] = {}
    for trace in traces:
        for family in families:
            seen: set[Overrides] = set()
            # The reference point first, so a grid point with the same inputs keeps its
            # overrides in the report and is marked as the profile's own.
            for overrides in [(), *(effective(family, combo) for combo in combinations)]:
                if overrides in seen:
                    continue
                seen.add(overrides)
                profile = resolve(base, overrides, "--set").model_dump(mode="json")
                task = sweep_task(trace, family, profile, overrides, seed, code)
                key = task.key
                at_profile = profile == base_data
                if key in points:
                    if overrides and not points[key].overrides:
                        points[key] = SweepPoint(trace.label, family, overrides, True, key)
                    continue
                points[key] = SweepPoint(trace.label, family, overrides, at_profile, key)
                tasks[key] = task
    paths = [axis.path for axis in grid.axes]
    order = {ref: i for i, ref in enumerate(t.ref for t in traces)}
    # Trace by trace (a worker keeps one trace loaded); predictive, the slowest, first.
    ordered = sorted(tasks.values(), key=lambda t: (order[t.trace], t.family != "predictive"))
    return SweepPlan(
        traces=tuple(traces),
        families=tuple(families),
        grid=grid,
        points=tuple(points.values()),
        tasks=tuple(ordered),
        ignored={family: ignored_paths(family, paths) for family in families},
        seed=seed,
        code=code,
    )
