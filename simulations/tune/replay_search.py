"""Tune by replay: search profiles with Optuna, score each by replaying the model's history.

Each candidate (`search_space.SearchSpace.suggest`) becomes a profile (`candidate`), and that
profile a sweep task for the predictive family: the same replay, the same cache key and the
same `ResultCache` as `prewarm sweep`, so a point swept (or tuned) before is read, not
replayed. The objective is the replay's GPU-hours, to be minimised, under the constraint
`slo_attainment >= ttft_slo_attainment` (set on each trial as Optuna's constraint
`target - attainment <= 0`).

Trials are asked in batches of `batch`, run through the `SweepExecutor` seam (local
processes or Ray) in parallel, and told in trial order once the batch is in, so the trials
depend on the seed and the batch size only, never on the workers or on which replay finished
first. `trials` counts distinct candidates: one TPE proposes again (it does, on a small
discrete space) is told the numbers already known and recorded as a repeat, at no cost.
(The replays have their own seed, as in a sweep: another search seed reads the same
replays from the cache.) The sampler is TPE (seeded, constrained, constant liar for the
batch); when the space is finite and no larger than `trials`, Optuna's BruteForceSampler
tries every candidate once instead of guessing. The profile as given starts the search when
it is a point of the space, so when today's profile meets the SLO the pick never costs more.

The pick: the cheapest trial that meets the SLO (ties: the higher attainment, then the
earlier trial). When none does, the closest (highest attainment, then cheapest) is reported
as not meeting it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autoscaler.profile import ModelProfile, ProfileError
from simulations.sweep.cache import ResultCache
from simulations.sweep.executor import SweepExecutor
from simulations.sweep.grid import GridError, Scalar, describe
from simulations.sweep.plan import SweepTrace, sweep_task
from simulations.sweep.run import OnResult, run_tasks
from simulations.sweep.tasks import PointResult, SweepTask
from simulations.tune.candidate import candidate_overrides, candidate_profile, profile_params
from simulations.tune.search_space import SearchSpace

FAMILY = "predictive"  # the production engine: what `serve` runs with the written profile
DEFAULT_BATCH = 4
# A candidate TPE proposes again is told its known numbers and not counted; after this many
# asks per counted trial the search stops (a small space the sampler has settled in).
REPEAT_LIMIT = 10

OnTrial = Callable[["TrialRecord"], None]


@dataclass(frozen=True)
class TrialRecord:
    """One trial. `state` is "complete" or "invalid" (the values do not make a valid
    profile: `error` says why). `repeat_of` names the earlier trial with the same replay."""

    number: int
    params: dict[str, Scalar]
    state: str
    key: str = ""
    gpu_hours: float = float("nan")
    slo_attainment: float = float("nan")
    feasible: bool = False
    cached: bool = False
    repeat_of: int | None = None
    error: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return describe(candidate_overrides(self.params))

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "params": self.params,
            "candidate": self.label,
            "gpu_hours": _json(self.gpu_hours),
            "slo_attainment": _json(self.slo_attainment),
            "meets_slo": self.feasible,
            "cached": self.cached,
            "repeat_of": self.repeat_of,
            "key": self.key,
            "error": self.error or None,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class SearchOutcome:
    trials: list[TrialRecord]
    sampler: str
    target: float
    replayed: int
    cached: int
    reference: PointResult | None = None  # the profile as given, replayed on the same trace
    note: str = ""  # why the search stopped short of its trials, if it did

    @property
    def complete(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.state == "complete"]

    @property
    def distinct(self) -> list[TrialRecord]:
        """Complete trials, one per replay (the first trial of each)."""
        return [t for t in self.complete if t.repeat_of is None]

    @property
    def best(self) -> TrialRecord | None:
        """The cheapest trial that meets the SLO, or None."""
        feasible = [t for t in self.distinct if t.feasible]
        if not feasible:
            return None
        return min(feasible, key=lambda t: (t.gpu_hours, -t.slo_attainment, t.number))

    @property
    def closest(self) -> TrialRecord | None:
        """When none meets the SLO: the highest attainment (then the cheapest)."""
        done = self.distinct
        if not done:
            return None
        return min(done, key=lambda t: (-t.slo_attainment, t.gpu_hours, t.number))

    @property
    def pick(self) -> TrialRecord | None:
        return self.best or self.closest


def make_task(trace: SweepTrace, profile: ModelProfile, seed: int, code: str) -> SweepTask:
    """The sweep task replaying `profile` with the predictive family on `trace`: the task
    and key `simulations.sweep.plan.plan_sweep` gives the same point."""
    return sweep_task(trace, FAMILY, profile.model_dump(mode="json"), (), seed, code)


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _brute_force_class() -> Any:
    import optuna

    class BruteForce(optuna.samplers.BruteForceSampler):  # type: ignore[misc]
        """Optuna's exhaustive sampler without its stop: it calls `study.stop()` after the
        last candidate, which only works inside `optimize`; here the search asks exactly
        `space.size` trials, so it ends there by itself."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return BruteForce


def _BruteForce(seed: int) -> Any:  # noqa: N802  (a class, made when Optuna is imported)
    return _brute_force_class()(seed=seed)


def make_sampler(space: SearchSpace, trials: int, seed: int) -> tuple[Any, str, int]:
    """(sampler, its name for reports, the trials to run)."""
    import optuna

    size = space.size
    if size is not None and size <= trials:
        return _BruteForce(seed=seed), "brute force (every candidate)", size
    sampler = optuna.samplers.TPESampler(
        seed=seed,
        n_startup_trials=min(10, max(2, trials // 4)),
        multivariate=True,
        group=True,  # forecast settings exist only for some kinds: conditional groups
        constant_liar=True,  # a batch's pending trials count as (bad) results, so it spreads
    )
    return sampler, "TPE (constrained, seeded)", trials


def replay_search(
    space: SearchSpace,
    base: ModelProfile,
    trace: SweepTrace,
    *,
    trials: int,
    seed: int,
    executor: SweepExecutor,
    cache: ResultCache,
    code: str,
    batch: int = DEFAULT_BATCH,
    replay_seed: int = 0,
    on_trial: OnTrial | None = None,
    on_replay: OnResult | None = None,
) -> SearchOutcome:
    """Runs the search (see the module doc); SweepTaskError when a replay fails. `seed`
    seeds the sampler; `replay_seed` the replays' cold-start jitter, as a sweep's `--seed`
    (the trace's arrivals are seeded by its TraceRef), so a sweep's points match."""
    import optuna

    if trials < 1 or batch < 1:
        raise ValueError(f"trials and batch must be >= 1, got {trials} and {batch}")
    _quiet_optuna()
    target = base.ttft_slo_attainment
    sampler, sampler_name, total = make_sampler(space, trials, seed)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    start = profile_params(base, [axis.path for axis in space.axes])
    start = {path: value for path, value in start.items() if space.axis(path) is not None}
    if not sampler_name.startswith("brute") and space.fits(start):
        study.enqueue_trial(start)
    records: list[TrialRecord] = []
    first_by_key: dict[str, int] = {}
    results: dict[str, PointResult] = {}
    replayed = cached = 0
    # The profile as given is the evidence's yardstick; it rides with the first batch.
    reference = make_task(trace, base, replay_seed, code)
    hits: set[str] = set()  # keys read from the cache

    def on_result(task: SweepTask, result: PointResult, from_cache: bool) -> None:
        if from_cache:
            hits.add(task.key)
        if on_replay is not None:
            on_replay(task, result, from_cache)

    used = asks = 0  # candidates spent (distinct replays and invalid ones), trials asked
    while used < total and asks < REPEAT_LIMIT * total + batch:
        asked = [study.ask() for _ in range(min(batch, total - used))]
        asks += len(asked)
        pending: list[tuple[Any, dict[str, Scalar], SweepTask | None, str]] = []
        tasks: dict[str, SweepTask] = {} if records else {reference.key: reference}
        for trial in asked:
            params = space.suggest(trial)
            try:
                profile = candidate_profile(base, params, f"trial {trial.number}")
            except (ProfileError, GridError) as exc:
                pending.append((trial, params, None, str(exc)))
                continue
            task = make_task(trace, profile, replay_seed, code)
            pending.append((trial, params, task, ""))
            if task.key not in results:
                tasks.setdefault(task.key, task)
        found, from_cache, ran = run_tasks(list(tasks.values()), executor, cache, on_result)
        results.update(found)
        replayed += ran
        cached += from_cache
        for trial, params, done, error in pending:
            if done is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                record = TrialRecord(trial.number, params, "invalid", error=error)
            else:
                result = results[done.key]
                gpu = float(result.metrics["gpu_hours"])
                slo = float(result.metrics["slo_attainment"])
                # Feasible when <= 0: TPE ranks infeasible trials by how far they miss.
                trial.set_constraint("slo_attainment", target - slo)
                trial.set_user_attr("slo_attainment", slo)
                study.tell(trial, gpu)
                repeat_of = first_by_key.get(done.key)
                if repeat_of is None:
                    first_by_key[done.key] = trial.number
                record = TrialRecord(
                    trial.number,
                    params,
                    "complete",
                    key=done.key,
                    gpu_hours=gpu,
                    slo_attainment=slo,
                    feasible=slo >= target,
                    cached=repeat_of is None and done.key in hits,
                    repeat_of=repeat_of,
                    metrics=dict(result.metrics),
                )
            records.append(record)
            used += record.repeat_of is None
            if on_trial is not None:
                on_trial(record)
    note = ""
    if used < total:
        note = (
            f"stopped after {asks} trials with {used} of {total} candidates: the sampler "
            "kept proposing candidates already replayed (the space is nearly exhausted)"
        )
    return SearchOutcome(
        records,
        sampler_name,
        target,
        replayed=replayed,
        cached=cached,
        reference=results.get(reference.key),
        note=note,
    )


def _json(value: float) -> float | None:
    return None if value != value else value
