"""The live scaler's refits: engines never fit inline; a pool fits due models in the background."""

from __future__ import annotations

import asyncio
import functools
import math

import pytest

from autoscaler.clock import ManualClock
from autoscaler.engine import ModelEngine
from autoscaler.forecast.refit_pool import RefitPool, refittables
from autoscaler.scaler.background_refits import BackgroundRefits
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry
from tests.fakes import FakeMetricSource, make_profile, observation
from tests.scaler.scaler_helpers import START_S, target

BUCKET_S = 300.0
DAY_S = 86400.0


def daily_demand(t_s: float) -> float:
    return 20_000.0 + 8_000.0 * math.sin(2 * math.pi * t_s / DAY_S)


def registry_with_history(models: list[str]) -> tuple[ScalerRegistry, ManualClock]:
    source = FakeMetricSource()
    for model in models:
        history = [
            observation(t, prompt=daily_demand(t), generation=daily_demand(t) / 4, ready=3)
            for t in (START_S - 2 * DAY_S + BUCKET_S * i for i in range(int(2 * DAY_S / BUCKET_S)))
        ]
        source.history_by_model[model] = history
        source.latest_by_model[model] = history[-1]
    profile = make_profile(
        forecast={"kind": "holt-winters", "bucket_s": BUCKET_S, "history_s": 3 * DAY_S}
    )
    clock = ManualClock(START_S)
    registry = ScalerRegistry(
        ProfileBook({"default": profile}),
        lambda url: source,
        clock,
        engine_for=functools.partial(ModelEngine, inline_refits=False),
    )
    return registry, clock


def forecast_method(engine: ModelEngine) -> tuple[str, str]:
    forecasts = engine.last_forecasts
    assert forecasts is not None
    return forecasts[0].method, forecasts[0].note


async def test_models_forecast_from_pool_fits_and_never_fit_on_the_decision_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    models = ["llama", "qwen", "mistral"]
    registry, clock = registry_with_history(models)
    tracked = [registry.track(target(model=m, name=m)) for m in models]
    for t in tracked:
        await registry.backfill_history(t)
        await registry.refresh_once(t)
        method, note = forecast_method(t.engine)
        assert method == "last-value"
        assert "holt-winters waits for its first fit from the refit pool" in note

    with RefitPool(workers=1, executor="thread") as pool:
        refits = BackgroundRefits(registry, pool, clock, batch_models=2)  # two batches
        report = await refits.run_once()
        assert (report.fitted, report.failed) == (2 * len(models), 0)  # prompt + generation
        assert (await refits.run_once()).fitted == 0  # nothing due until the next cadence

    from autoscaler.forecast.holt_winters import HoltWintersForecaster

    def fitted_inline(*args: object) -> None:
        raise AssertionError("fitted on the decision thread")

    monkeypatch.setattr(HoltWintersForecaster, "_fit", fitted_inline)
    clock.advance(BUCKET_S)
    for t in tracked:
        decision = await registry.refresh_once(t)
        assert decision.valid
        method, note = forecast_method(t.engine)
        assert method == "holt-winters" and "refit pool" not in note


async def test_a_reloaded_forecast_section_is_fitted_by_the_pool_again() -> None:
    registry, clock = registry_with_history(["llama"])
    tracked = registry.track(target(model="llama"))
    await registry.backfill_history(tracked)
    with RefitPool(workers=1, executor="thread") as pool:
        refits = BackgroundRefits(registry, pool, clock)
        assert (await refits.run_once()).fitted == 2
        changed = make_profile(
            forecast={"kind": "kalman", "bucket_s": BUCKET_S, "history_s": 3 * DAY_S}
        )
        await registry.replace_profiles(ProfileBook({"default": changed}))
        await registry.refresh_once(tracked)
        assert (
            "kalman waits for its first fit from the refit pool"
            in (forecast_method(tracked.engine)[1])
        )
        assert (await refits.run_once()).fitted == 2
    clock.advance(BUCKET_S)
    await registry.refresh_once(tracked)
    method, note = forecast_method(tracked.engine)
    assert method == "kalman" and "refit pool" not in note


async def test_a_new_models_first_decision_wakes_the_refits_before_the_cadence() -> None:
    registry, clock = registry_with_history(["llama"])
    with RefitPool(workers=1, executor="thread") as pool:
        refits = BackgroundRefits(registry, pool, clock, every_s=3600.0)
        loop_task = asyncio.create_task(refits.run())
        try:
            await clock.sleeping(1)  # the first (empty) pass; the next is an hour away
            tracked = registry.track(target(model="llama"))
            await registry.backfill_history(tracked)
            await registry.refresh_once(tracked)  # the first decision wakes the loop
            for _ in range(200):  # the pool's worker thread fits
                if refits.last_report is not None and refits.last_report.fitted:
                    break
                await asyncio.sleep(0.05)
        finally:
            loop_task.cancel()
    assert refits.last_report is not None and refits.last_report.fitted == 2
    assert clock.now_s() == START_S  # the wake-up, not the cadence


async def test_passes_follow_the_cadence_on_the_clock() -> None:
    registry, clock = registry_with_history([])
    with RefitPool(workers=1, executor="thread") as pool:
        refits = BackgroundRefits(registry, pool, clock, every_s=60.0)
        loop_task = asyncio.create_task(refits.run())
        try:
            await clock.sleeping(1)
            first = refits.last_report
            assert first is not None  # a pass at start
            await clock.tick(59.0)
            await clock.sleeping(1)
            assert refits.last_report is first  # not yet
            await clock.tick(1.0)
            await clock.sleeping(1)
            assert refits.last_report is not first  # a minute on the clock: the next pass
        finally:
            loop_task.cancel()
            await asyncio.gather(loop_task, return_exceptions=True)


async def test_a_model_tracked_during_a_pass_is_fitted_in_that_pass() -> None:
    registry, clock = registry_with_history(["llama", "qwen"])
    first = registry.track(target(model="llama", name="llama"))
    await registry.backfill_history(first)
    late_target = target(model="qwen", name="qwen")
    loop = asyncio.get_running_loop()

    class TrackingPool(RefitPool):
        """Fits in threads; while the first batch fits, KEDA asks about a second model."""

        def fit(self, jobs):  # type: ignore[no-untyped-def]
            if late_target not in {t.target for t in registry.all()}:
                late = asyncio.run_coroutine_threadsafe(self._arrive(), loop).result()
                assert late is not None
            return super().fit(jobs)

        async def _arrive(self):  # type: ignore[no-untyped-def]
            late = registry.track(late_target)
            await registry.backfill_history(late)
            return late

    with TrackingPool(workers=1, executor="thread") as pool:
        report = await BackgroundRefits(registry, pool, clock, batch_models=1).run_once()
    assert report.fitted == 4  # both models' prompt and generation series


async def test_a_model_arriving_during_a_pass_is_fitted_before_models_already_fitted() -> None:
    """A restart or a new ScaledObject must not wait behind a thousand routine refits."""
    registry, clock = registry_with_history(["llama", "qwen", "mistral"])
    for model in ("llama", "qwen"):
        await registry.backfill_history(registry.track(target(model=model, name=model)))
    late_target = target(model="mistral", name="mistral")
    loop = asyncio.get_running_loop()
    batches: list[set[str]] = []

    class RecordingPool(RefitPool):
        """Fits in threads, noting whose series each batch held; KEDA asks about a third
        model while the second pass's first batch fits."""

        def fit(self, jobs):  # type: ignore[no-untyped-def]
            parts = {id(job.target) for job in jobs}
            batches.append({t.target.model for t in registry.all() if parts & _part_ids(t.engine)})
            if len(batches) == 3:  # the second pass's first batch
                asyncio.run_coroutine_threadsafe(self._arrive(), loop).result()
            return super().fit(jobs)

        async def _arrive(self):  # type: ignore[no-untyped-def]
            await registry.backfill_history(registry.track(late_target))

    with RecordingPool(workers=1, executor="thread") as pool:
        refits = BackgroundRefits(registry, pool, clock, batch_models=1)
        await refits.run_once()
        clock.advance(DAY_S)  # every fitted model is due again
        await refits.run_once()
    assert batches[:2] == [{"llama"}, {"qwen"}]
    assert batches[2:] == [{"llama"}, {"mistral"}, {"qwen"}]


def _part_ids(engine: ModelEngine) -> set[int]:
    """The identities of the engine's fittable forecaster parts (what a job's target is)."""
    return {id(part) for f in (engine._prompt, engine._generation) for part in refittables(f)}


async def test_a_model_visited_before_its_back_fill_still_counts_as_never_fitted() -> None:
    """After a restart most models are tracked before their history arrives: a pass that
    found nothing to fit for them must not push them behind the routine refits."""
    registry, clock = registry_with_history(["llama", "qwen", "mistral"])
    for model in ("llama", "qwen"):
        await registry.backfill_history(registry.track(target(model=model, name=model)))
    waiting = registry.track(target(model="mistral", name="mistral"))  # history not yet in
    batches: list[set[str]] = []

    class RecordingPool(RefitPool):
        def fit(self, jobs):  # type: ignore[no-untyped-def]
            parts = {id(job.target) for job in jobs}
            batches.append({t.target.model for t in registry.all() if parts & _part_ids(t.engine)})
            return super().fit(jobs)

    with RecordingPool(workers=1, executor="thread") as pool:
        refits = BackgroundRefits(registry, pool, clock, batch_models=1)
        await refits.run_once()
        await registry.backfill_history(waiting)
        clock.advance(DAY_S)
        await refits.run_once()
    assert batches == [{"llama"}, {"qwen"}, {"mistral"}, {"llama"}, {"qwen"}]
    assert refits.fits_installed == 10  # 5 batches x prompt and generation
