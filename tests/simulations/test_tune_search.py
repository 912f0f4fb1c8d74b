"""The search: seeded and reproducible, infeasible candidates never picked over a feasible
one, no feasible one said plainly, swept points read from the cache, the same trials on
one worker and on a process pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulations.sweep.cache import ResultCache, code_fingerprint
from simulations.sweep.executor import (
    InlineExecutor,
    ProcessPoolSweepExecutor,
    SweepExecutor,
)
from simulations.sweep.run import run_sweep
from simulations.tune.replay_search import SearchOutcome, replay_search
from simulations.tune.search_space import SearchSpace, build_space
from tests.simulations.sweep_helpers import CountingExecutor, small_plan, write_rate_trace
from tests.simulations.tune_helpers import base_profile, fake_replay, short_trace, with_target

WIDE = ["target_utilisation=0.5:0.95:0.05", "forecast.quantile=0.8:0.99:0.01"]


def _search(tmp_path: Path, space: SearchSpace, seed: int = 0, trials: int = 24,
            target: float = 0.99, batch: int = 4) -> SearchOutcome:  # fmt: skip
    return replay_search(
        space,
        with_target(base_profile(), target),
        short_trace(tmp_path),
        trials=trials,
        seed=seed,
        batch=batch,
        executor=InlineExecutor(fake_replay),
        cache=ResultCache(tmp_path / f"cache-{seed}-{target}"),
        code="test",
    )


def _wide() -> SearchSpace:
    return build_space(base_profile(), WIDE, ["forecast.kind=holt-winters,last-value"], "given")


def test_same_seed_same_trials(tmp_path: Path) -> None:
    first = _search(tmp_path, _wide(), seed=3)
    again = _search(tmp_path, _wide(), seed=3)
    other = _search(tmp_path, _wide(), seed=4)
    assert first.sampler.startswith("TPE")
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    assert [t.gpu_hours for t in first.trials] == [t.gpu_hours for t in again.trials]
    assert [t.params for t in first.trials] != [t.params for t in other.trials]


def test_the_profile_as_given_is_the_first_trial_when_in_the_space(tmp_path: Path) -> None:
    outcome = _search(tmp_path, _wide())
    assert outcome.trials[0].params == {
        "forecast.kind": "holt-winters", "target_utilisation": 0.8, "forecast.quantile": 0.95,
    }  # fmt: skip
    assert outcome.reference is not None


def test_infeasible_candidates_are_never_picked_over_a_feasible_one(tmp_path: Path) -> None:
    outcome = _search(tmp_path, _wide(), trials=30)
    feasible = [t for t in outcome.complete if t.slo_attainment >= 0.99]
    cheaper_misses = [t for t in outcome.complete if t.slo_attainment < 0.99
                      and t.gpu_hours < min(f.gpu_hours for f in feasible)]  # fmt: skip
    assert feasible and cheaper_misses  # the test means something: misses are cheaper
    best = outcome.best
    assert best is not None and best.feasible and best.slo_attainment >= 0.99
    assert best.gpu_hours == min(t.gpu_hours for t in feasible)
    assert outcome.pick is best


def test_constrained_tpe_spends_most_trials_near_the_target(tmp_path: Path) -> None:
    """After its random start, the constrained sampler should not wander in the cheap,
    infeasible corner: at least half of the later trials meet the SLO."""
    outcome = _search(tmp_path, _wide(), trials=40)
    later = outcome.complete[16:]
    assert sum(t.feasible for t in later) >= len(later) / 2


def test_no_feasible_candidate_gives_the_closest_not_meeting_it(tmp_path: Path) -> None:
    space = build_space(base_profile(), ["target_utilisation=0.85:0.95:0.05"], [], "given")
    outcome = _search(tmp_path, space, target=0.999)
    assert outcome.best is None
    closest = outcome.pick
    assert closest is not None and not closest.feasible
    assert closest.slo_attainment == max(t.slo_attainment for t in outcome.complete)


def test_a_small_finite_space_is_tried_whole(tmp_path: Path) -> None:
    space = build_space(
        base_profile(), [], ["target_utilisation=0.6,0.7,0.8", "forecast.quantile=0.9,0.95"],
        "given",
    )  # fmt: skip
    outcome = _search(tmp_path, space, trials=50)
    assert outcome.sampler.startswith("brute force")
    assert len(outcome.trials) == 6
    assert {tuple(sorted(t.params.items())) for t in outcome.trials} == {
        (("forecast.quantile", q), ("target_utilisation", u))
        for u in (0.6, 0.7, 0.8) for q in (0.9, 0.95)
    }  # fmt: skip


def test_invalid_candidates_fail_their_trial_and_the_search_goes_on(tmp_path: Path) -> None:
    # Each value is valid alone (checked before the search); min 10 with max 5 is not.
    space = build_space(base_profile(), [], ["replicas.min=1,10", "replicas.max=5,20"], "given")
    outcome = _search(tmp_path, space, trials=5)
    assert len(outcome.trials) == 4
    invalid = [t for t in outcome.trials if t.state == "invalid"]
    assert [t.params for t in invalid] == [{"replicas.min": 10, "replicas.max": 5}]
    assert "replicas.min (10) is above replicas.max (5)" in invalid[0].error
    assert outcome.pick is not None and outcome.pick.state == "complete"


def test_points_swept_before_are_read_from_the_sweep_cache(tmp_path: Path) -> None:
    sets = ["target_utilisation=0.7,0.8", "forecast.quantile=0.9,0.95"]
    plan = small_plan(write_rate_trace(tmp_path), sets, families=["predictive"])
    cache = ResultCache(tmp_path / "cache")
    swept = run_sweep(plan, InlineExecutor(), cache)
    assert swept.replayed == len(plan.tasks) == 4
    counting = CountingExecutor(InlineExecutor())
    space = build_space(base_profile(), [], sets, "given")
    outcome = replay_search(
        space, base_profile(), plan.traces[0], trials=10, seed=0, executor=counting,
        cache=cache, code=code_fingerprint(),
    )  # fmt: skip
    assert counting.ran == [] and outcome.replayed == 0
    assert outcome.cached == 4 and len(outcome.trials) == 4
    by_key = {t.key: t for t in outcome.trials}
    for point in plan.points:
        numbers = swept.results[point.key].metrics
        assert by_key[point.key].gpu_hours == numbers["gpu_hours"]
        assert by_key[point.key].slo_attainment == numbers["slo_attainment"]


def test_same_trials_on_one_worker_and_on_a_process_pool(tmp_path: Path) -> None:
    trace = short_trace(tmp_path)
    space = build_space(
        base_profile(), ["target_utilisation=0.6:0.9:0.05"], ["forecast.quantile=0.9,0.95"],
        "given",
    )  # fmt: skip

    def run(executor: SweepExecutor, name: str) -> SearchOutcome:
        return replay_search(
            space, base_profile(), trace, trials=6, seed=1, batch=3,
            executor=executor, cache=ResultCache(tmp_path / name), code=code_fingerprint(),
        )  # fmt: skip

    inline = run(InlineExecutor(), "inline")
    kept = ProcessPoolSweepExecutor(2, keep_pool=True)
    try:
        pool = run(kept, "pool")
    finally:
        kept.close()
    assert [t.as_dict() | {"cached": None} for t in inline.trials] == [
        t.as_dict() | {"cached": None} for t in pool.trials
    ]
    assert inline.replayed == pool.replayed > 0


def test_a_kept_pool_serves_every_batch_with_the_same_workers(tmp_path: Path) -> None:
    plan = small_plan(write_rate_trace(tmp_path), ["target_utilisation=0.6,0.7,0.8"],
                      families=["predictive"])  # fmt: skip
    kept = ProcessPoolSweepExecutor(2, keep_pool=True)
    try:
        first = {result.worker for _, result in kept.run(plan.tasks[:2])}
        second = {result.worker for _, result in kept.run(plan.tasks[2:])}
    finally:
        kept.close()
    # A pool per run would start new processes (new pids) for the second run.
    assert len(first | second) <= 2 and second


def test_trials_and_batch_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trials and batch"):
        _search(tmp_path, _wide(), trials=0)


def test_a_stricter_target_reads_the_same_replays(tmp_path: Path) -> None:
    """ttft_slo_attainment is what tune aims at, not a replay input: not in the cache key."""
    space = build_space(base_profile(), [], ["target_utilisation=0.7,0.8"], "given")
    cache = ResultCache(tmp_path / "cache")
    trace = short_trace(tmp_path)

    def search(target: float) -> SearchOutcome:
        return replay_search(
            space, with_target(base_profile(), target), trace, trials=4, seed=0,
            executor=InlineExecutor(fake_replay), cache=cache, code="test",
        )  # fmt: skip

    first, stricter = search(0.9), search(0.95)
    assert first.replayed == 2 and stricter.replayed == 0  # 0.8 is the profile as given
    assert [t.key for t in first.trials] == [t.key for t in stricter.trials]
    assert [t.feasible for t in first.trials] != [t.feasible for t in stricter.trials]


def test_trials_count_distinct_candidates_and_repeats_are_recorded(tmp_path: Path) -> None:
    space = build_space(
        base_profile(), [], ["target_utilisation=0.6,0.7,0.8,0.9", "forecast.quantile=0.9,0.95"],
        "given",
    )  # fmt: skip
    outcome = _search(tmp_path, space, trials=7)  # 8 points: TPE, which repeats itself
    assert outcome.sampler.startswith("TPE") and not outcome.note
    assert len(outcome.distinct) == 7 and len(outcome.trials) > 7
    for repeat in outcome.trials:
        if repeat.repeat_of is not None:
            first = outcome.trials[repeat.repeat_of]
            assert repeat.key == first.key and repeat.gpu_hours == first.gpu_hours
