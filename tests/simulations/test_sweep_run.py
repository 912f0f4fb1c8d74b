"""Running a sweep: distinct replays, the cache (rerun, extension, atomic entries) and
the same numbers whatever the executor or worker count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulations.sweep.cache import ResultCache
from simulations.sweep.executor import (
    ONE_BLAS_THREAD,
    InlineExecutor,
    ProcessPoolSweepExecutor,
    SweepTaskError,
)
from simulations.sweep.run import run_sweep
from simulations.sweep.tasks import PointResult, SweepTask
from tests.simulations.sweep_helpers import CountingExecutor, small_plan, write_rate_trace

FAST = ("reactive-tokens", "oracle")  # sub-second replays: the cache tests use these


@pytest.fixture(scope="module")
def trace_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rate_trace(tmp_path_factory.mktemp("trace"))


def test_each_family_replays_its_distinct_inputs_once(trace_path: Path) -> None:
    plan = small_plan(
        trace_path, ["target_utilisation=0.6:0.8:0.1", "forecast.quantile=0.8,0.9,0.95"]
    )
    per_family = {f: sum(t.family == f for t in plan.tasks) for f in plan.families}
    # 9 combinations: predictive reads both keys; the others only target_utilisation. The
    # profile's own point (0.8, 0.95) is in the grid, so it adds nothing.
    assert per_family == {"predictive": 9, "reactive-tokens": 3, "oracle": 3}
    assert plan.requested == 27
    assert plan.ignored == {
        "predictive": [],
        "reactive-tokens": ["forecast.quantile"],
        "oracle": ["forecast.quantile"],
    }
    assert len({t.key for t in plan.tasks}) == len(plan.tasks)
    assert [p.overrides for p in plan.points if p.family == "oracle" and p.at_profile] == [
        (("target_utilisation", 0.8),)
    ]
    # Trace by trace, the slowest family first.
    assert plan.tasks[0].family == "predictive"


def test_the_profile_point_is_added_when_the_grid_misses_it(trace_path: Path) -> None:
    plan = small_plan(trace_path, ["target_utilisation=0.6,0.7"], families=FAST)
    at_profile = [p for p in plan.points if p.at_profile]
    assert [(p.family, p.overrides) for p in at_profile] == [
        ("reactive-tokens", ()),
        ("oracle", ()),
    ]
    assert len(plan.tasks) == 6


def test_a_rerun_replays_nothing_and_an_extension_only_what_is_new(
    trace_path: Path, tmp_path: Path
) -> None:
    cache = ResultCache(tmp_path / "cache")
    first = CountingExecutor(InlineExecutor())
    plan = small_plan(trace_path, ["target_utilisation=0.6,0.7"], families=FAST)
    outcome = run_sweep(plan, first, cache)
    assert (outcome.replayed, outcome.cached) == (6, 0)
    assert len(first.ran) == 6

    again = CountingExecutor(InlineExecutor())
    rerun = run_sweep(plan, again, cache)
    assert again.ran == []
    assert (rerun.replayed, rerun.cached) == (0, 6)
    assert rerun.results.keys() == outcome.results.keys()
    for key, result in outcome.results.items():
        assert rerun.results[key].metrics == result.metrics

    extended = CountingExecutor(InlineExecutor())
    bigger = small_plan(trace_path, ["target_utilisation=0.6,0.7,0.9"], families=FAST)
    run = run_sweep(bigger, extended, cache)
    assert sorted((t.family, t.overrides) for t in extended.ran) == [
        ("oracle", (("target_utilisation", 0.9),)),
        ("reactive-tokens", (("target_utilisation", 0.9),)),
    ]
    assert (run.replayed, run.cached) == (2, 6)


def test_another_seed_is_another_replay(trace_path: Path, tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    run_sweep(small_plan(trace_path, [], families=("oracle",)), InlineExecutor(), cache)
    counting = CountingExecutor(InlineExecutor())
    run_sweep(small_plan(trace_path, [], families=("oracle",), seed=1), counting, cache)
    assert len(counting.ran) == 1


def test_cache_entries_are_atomic_and_a_corrupt_one_is_replayed(
    trace_path: Path, tmp_path: Path
) -> None:
    cache = ResultCache(tmp_path / "cache")
    plan = small_plan(trace_path, [], families=("oracle",))
    run_sweep(plan, InlineExecutor(), cache)
    entries = list((tmp_path / "cache").rglob("*"))
    files = [p for p in entries if p.is_file()]
    assert [p.name for p in files] == [f"{plan.tasks[0].key}.json"]  # no temporary left

    files[0].write_text('{"key": "')  # what a torn write would have left without the rename
    counting = CountingExecutor(InlineExecutor())
    outcome = run_sweep(plan, counting, cache)
    assert len(counting.ran) == 1 and outcome.replayed == 1
    assert cache.get(plan.tasks[0].key) is not None


def test_an_interrupted_sweep_keeps_what_finished(trace_path: Path, tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    plan = small_plan(trace_path, ["target_utilisation=0.6,0.7,0.9"], families=FAST)
    calls = []

    def flaky(task: SweepTask) -> PointResult:
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C during the fourth replay
        calls.append(task)
        return InlineExecutor().run([task]).__next__()[1]

    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, InlineExecutor(flaky), cache)
    counting = CountingExecutor(InlineExecutor())
    outcome = run_sweep(plan, counting, cache)
    assert outcome.cached == 3
    assert len(counting.ran) == len(plan.tasks) - 3


def test_a_failing_replay_names_its_task(trace_path: Path, tmp_path: Path) -> None:
    def broken(task: SweepTask) -> PointResult:
        raise ValueError("boom")

    plan = small_plan(trace_path, ["target_utilisation=0.6"], families=("oracle",))
    task = next(t for t in plan.tasks if t.overrides)
    with pytest.raises(
        SweepTaskError, match=r"oracle on short.csv \(target_utilisation=0.6\).*boom"
    ):
        list(InlineExecutor(broken).run([task]))


def test_the_same_numbers_with_one_worker_or_two_processes(
    trace_path: Path, tmp_path: Path
) -> None:
    plan = small_plan(trace_path, [], families=("predictive", "reactive-tokens", "oracle"))
    inline = run_sweep(plan, InlineExecutor(), ResultCache(tmp_path / "one"))
    pooled = run_sweep(plan, ProcessPoolSweepExecutor(2), ResultCache(tmp_path / "two"))
    assert pooled.replayed == len(plan.tasks)
    workers = {result.worker for result in pooled.results.values()}
    assert len(workers) == 2  # both processes replayed something
    for key, result in inline.results.items():
        assert pooled.results[key].metrics == result.metrics
        assert pooled.results[key].requests == result.requests


def replay_checking_blas_threads(task: SweepTask) -> PointResult:
    """A worker's replay that fails unless BLAS was asked for one thread before it started."""
    from simulations.sweep.replay import run_task

    seen = {name: os.environ.get(name) for name in ONE_BLAS_THREAD}
    if seen != ONE_BLAS_THREAD:
        raise RuntimeError(f"worker BLAS threads: {seen}")
    return run_task(task)


def test_workers_run_blas_on_one_thread_and_the_parent_keeps_its_own(
    trace_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ONE_BLAS_THREAD:
        monkeypatch.delenv(name, raising=False)
    plan = small_plan(trace_path, ["target_utilisation=0.6"], families=("oracle",))
    executor = ProcessPoolSweepExecutor(2, replay_checking_blas_threads)
    assert len(list(executor.run(plan.tasks))) == len(plan.tasks)
    assert not any(name in os.environ for name in ONE_BLAS_THREAD)
