"""Running a planned sweep: cached results first, then the rest through an executor.

Each result is written to the cache as it arrives, so an interrupted sweep keeps every
replay that finished, and running it again (or with more values) replays only the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from simulations.sweep.cache import ResultCache
from simulations.sweep.executor import SweepExecutor
from simulations.sweep.grid import describe
from simulations.sweep.plan import SweepPlan
from simulations.sweep.tasks import PointResult, SweepTask

OnResult = Callable[[SweepTask, PointResult, bool], None]  # (task, result, from_cache)


@dataclass(frozen=True)
class SweepOutcome:
    plan: SweepPlan
    results: dict[str, PointResult]  # by task key
    cached: int  # results read from the cache
    replayed: int  # replays run now


def run_sweep(
    plan: SweepPlan,
    executor: SweepExecutor,
    cache: ResultCache,
    on_result: OnResult | None = None,
) -> SweepOutcome:
    results, cached, replayed = run_tasks(plan.tasks, executor, cache, on_result)
    return SweepOutcome(plan, results, cached=cached, replayed=replayed)


def run_tasks(
    tasks: Sequence[SweepTask],
    executor: SweepExecutor,
    cache: ResultCache,
    on_result: OnResult | None = None,
) -> tuple[dict[str, PointResult], int, int]:
    """Each task's result by key (from the cache, else replayed through `executor` and
    cached), with how many came from the cache and how many were replayed. `prewarm tune`
    runs its candidates through here too, so a point swept before is not replayed."""
    results: dict[str, PointResult] = {}
    todo: list[SweepTask] = []
    for task in tasks:
        hit = cache.get(task.key)
        if hit is None:
            todo.append(task)
            continue
        results[task.key] = hit
        if on_result is not None:
            on_result(task, hit, True)
    for task, result in executor.run(todo):
        about = {
            "trace": task.trace.as_dict(),
            "family": task.family,
            "overrides": describe(task.overrides),
            "seed": task.seed,
            "warmup_s": task.warmup_s,
        }
        cache.put(task.key, result, about)
        results[task.key] = result
        if on_result is not None:
            on_result(task, result, False)
    return results, len(tasks) - len(todo), len(todo)
