"""Background decisions per ScaledObject, stepped with a manual clock."""

from __future__ import annotations

import asyncio
import functools
import math
import threading
from dataclasses import replace

import pytest

from autoscaler.metrics.source import MetricSourceError
from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.metadata import MetadataError, parse_metadata
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.scaler.tracking_limit import TooManyScaledObjects
from tests.fakes import FakeMetricSource, fails_from_call, make_profile, prompt_for_replicas
from tests.scaler.scaler_helpers import START_S, FailingEngine, make_registry, steady, target


async def test_refresh_decides_from_the_latest_observation() -> None:
    source = FakeMetricSource()
    source.latest_by_model["llama"] = steady(prompt_for_replicas(6))
    registry, _ = make_registry(source)
    tracked = registry.track(target())
    assert tracked.decision is None  # tracking does no I/O
    decision = await registry.refresh_once(tracked)
    assert tracked.decision is decision
    assert decision.valid and decision.reactive_replicas == 6


async def test_outage_holds_then_invalidates_then_recovers() -> None:
    down = {"on": False}

    def fail() -> Exception | None:
        return MetricSourceError("http://prom:9090: connection refused") if down["on"] else None

    source = FakeMetricSource(fail=fail)
    source.latest_by_model["llama"] = steady(prompt_for_replicas(6))
    registry, clock = make_registry(source, staleness={"hold_after_s": 90, "error_after_s": 300})
    tracked = registry.track(target())
    before = await registry.refresh_once(tracked)

    source.latest_by_model["llama"] = steady(prompt_for_replicas(1))  # demand "fell"...
    down["on"] = True  # ...but Prometheus is gone, so nobody can know
    seen = []
    for _ in range(30):  # 450 s of outage in 15 s steps
        clock.advance(15)
        seen.append(await registry.refresh_once(tracked))
    # Seeded from the 4 replicas serving (not from min = 1), so 6 is reached at once.
    assert before.replicas == 6 and "rate limit" not in before.reason
    assert min(d.replicas for d in seen) >= before.replicas  # never scales down blind
    held = [d for d in seen if "holding" in d.reason]
    assert held and held[0].data_age_s > 90
    assert {d.replicas for d in held} == {held[0].replicas}
    assert all(d.valid for d in seen if d.data_age_s <= 300)
    assert not seen[-1].valid and "connection refused" in tracked.last_error

    down["on"] = False
    clock.advance(15)
    recovered = await registry.refresh_once(tracked)
    assert recovered.valid and tracked.last_error == ""


async def test_a_failing_refresh_ages_the_answer_like_missing_data() -> None:
    """The engine raises on every decision after the first (a forecaster asking for 96 GiB):
    the answer holds and says why, and past error_after_s it is invalid, so KEDA's fallback
    takes over instead of the last answer being served as fresh for ever."""
    source = FakeMetricSource()
    source.latest_by_model["llama"] = steady(prompt_for_replicas(6))
    registry, clock = make_registry(source, staleness={"hold_after_s": 90, "error_after_s": 300})
    oom = MemoryError("Unable to allocate 96.0 GiB for an array with shape (12884901888,)")
    registry.engine_for = functools.partial(FailingEngine, fail=fails_from_call(1, oom))
    tracked = registry.track(target())
    before = await registry.refresh_once(tracked)
    assert before.valid and before.replicas == 6

    seen = []
    for _ in range(25):  # 375 s of failing refreshes in 15 s steps
        clock.advance(15)
        seen.append(await registry.refresh_once(tracked))
    assert all(d.replicas == before.replicas for d in seen)  # held, never shed
    assert all(d.reason.startswith("holding 6: refresh failed") for d in seen)
    assert all("MemoryError: Unable to allocate 96.0 GiB" in d.reason for d in seen)
    ages = [d.data_age_s for d in seen]
    assert ages == sorted(ages) and ages[0] == 15 and ages[-1] == 375  # it ages
    assert all(d.valid == (d.data_age_s <= 300) for d in seen)
    assert not seen[-1].valid and "invalid after 300 s" in seen[-1].reason
    assert tracked.decision is seen[-1]
    assert "MemoryError" in tracked.refresh_error and tracked.last_error == ""

    tracked.engine.fail = lambda: None  # type: ignore[attr-defined]  # the failure clears
    clock.advance(15)
    recovered = await registry.refresh_once(tracked)
    assert recovered.valid and recovered.data_age_s == 0 and tracked.refresh_error == ""


async def test_a_refresh_failing_from_the_start_is_invalid() -> None:
    source = FakeMetricSource()
    source.latest_by_model["llama"] = steady(prompt_for_replicas(6))
    registry, _ = make_registry(source)
    registry.engine_for = functools.partial(
        FailingEngine, fail=lambda: ValueError("shapes (3,) and (4,) not aligned")
    )
    decision = await registry.refresh_once(registry.track(target()))
    assert not decision.valid and math.isinf(decision.data_age_s)
    assert "ValueError: shapes (3,) and (4,) not aligned" in decision.reason


async def test_backfill_loads_history_into_the_window() -> None:
    source = FakeMetricSource()
    base = steady(prompt_for_replicas(3))
    history = [replace(base, t_s=START_S - 3600 + 60 * i) for i in range(60)]
    source.history_by_model["llama"] = history
    registry, _ = make_registry(source)
    tracked = registry.track(target())
    loaded = await registry.backfill_history(tracked)
    assert loaded == 60
    values, _ = tracked.engine.window.complete(START_S)
    assert values.shape[1] >= 59


async def test_failed_backfill_is_survivable() -> None:
    source = FakeMetricSource(fail=lambda: MetricSourceError("down"))
    registry, _ = make_registry(source)
    assert await registry.backfill_history(registry.track(target())) == 0


async def test_same_target_is_tracked_once_and_others_separately() -> None:
    registry, _ = make_registry(FakeMetricSource())
    a = registry.track(target("llama"))
    assert registry.track(target("llama")) is a
    assert registry.track(target("mistral")) is not a
    assert len(registry) == 2


async def test_an_idle_scaled_object_is_dropped_and_its_gauges_stop_being_exported() -> None:
    source = FakeMetricSource()
    source.latest_by_model["llama"] = steady(prompt_for_replicas(2))
    source.latest_by_model["qwen"] = steady(prompt_for_replicas(3))
    _, clock = make_registry(source)
    metrics = DecisionMetrics()
    registry = ScalerRegistry(
        ProfileBook({"default": make_profile(decision_interval_s=15.0)}),
        lambda url: source,
        clock,
        backfill=False,
        idle_after_s=600.0,
        listeners=(metrics,),
        on_drop=(metrics.forget,),
    )

    def exported() -> set[str]:
        return {
            sample.labels["scaled_object"]
            for family in metrics.registry.collect()
            for sample in family.samples
            if "scaled_object" in sample.labels  # not the process-wide refusal counter
        }

    registry.start()
    try:
        registry.track(target(model="llama", name="old"))
        registry.track(target(model="qwen", name="kept"))
        await clock.sleeping(2)  # both decided at once, then parked until their phase
        assert exported() == {"serving/old", "serving/kept"}
        clock.advance(601.0)  # the refreshers wake: "old" was not asked about for 601 s
        registry.track(target(model="qwen", name="kept"))  # KEDA still asks about this one
        await clock.sleeping(1)  # "kept" refreshed and parked again; "old" is gone
        assert [t.target.scaled_object for t in registry.all()] == ["serving/kept"]
        assert exported() == {"serving/kept"}
    finally:
        await registry.close()


async def test_a_restart_through_a_prometheus_hiccup_keeps_the_fleet() -> None:
    """Back-fill and first read fail; the second read shows 20 ready serving 16's load."""
    calls = {"n": 0}

    def fail() -> Exception | None:
        calls["n"] += 1
        return MetricSourceError("timeout") if calls["n"] <= 2 else None

    source = FakeMetricSource(fail=fail)
    source.latest_by_model["llama"] = steady(prompt_for_replicas(16), ready=20)
    registry, clock = make_registry(source)
    tracked = registry.track(target())
    assert await registry.backfill_history(tracked) == 0
    first = await registry.refresh_once(tracked)
    assert not first.valid and "no data yet" in first.reason
    clock.advance(15)
    second = await registry.refresh_once(tracked)
    assert second.valid and second.replicas == 20  # not rate-limited up from min: 5


async def test_no_series_at_zero_lets_the_forecast_wake_the_model() -> None:
    """Scaled to zero an hour ago: Prometheus answers, without series. The decision stays
    fresh (not a stale hold at 0), so the forecast reaches IsActive."""
    source = FakeMetricSource()
    busy = steady(prompt_for_replicas(2), ready=2)
    source.history_by_model["llama"] = [
        replace(busy, t_s=START_S - 7200 + 60 * i) for i in range(60)
    ]
    registry, clock = make_registry(
        source, replicas={"min": 0}, forecast={"kind": "last-value", "history_s": 3 * 3600.0}
    )
    tracked = registry.track(target())
    assert await registry.backfill_history(tracked) == 60
    decisions = []
    for _ in range(3):
        decisions.append(await registry.refresh_once(tracked))
        clock.advance(15)
    # The first is decided on a zero observation of now; then replicas are wanted, and
    # "no series" while they start is missing data again (a hold, never a scale-down).
    assert decisions[0].valid and decisions[0].data_age_s == 0
    assert decisions[0].forecast_replicas >= 2 and tracked.active
    assert all(d.valid and d.replicas >= decisions[0].replicas for d in decisions)


async def test_no_series_with_replicas_serving_holds_them() -> None:
    """A scrape that loses a serving fleet (relabelling, a namespace typo) is missing data."""
    source = FakeMetricSource()
    source.latest_by_model["llama"] = steady(prompt_for_replicas(1), ready=6)
    registry, clock = make_registry(source, replicas={"min": 0})
    tracked = registry.track(target())
    assert (await registry.refresh_once(tracked)).replicas == 6
    del source.latest_by_model["llama"]
    seen = []
    for _ in range(45):
        clock.advance(15)
        seen.append(await registry.refresh_once(tracked))
    assert min(d.replicas for d in seen) == 6
    assert not seen[-1].valid  # past error_after_s: UNAVAILABLE, KEDA's fallback


async def test_a_scaled_object_first_seen_during_a_reload_gets_the_new_profiles() -> None:
    registry, _ = make_registry(FakeMetricSource())
    big = parse_metadata("batch", "serving", {"model": "big", "profile": "big"})
    registry.profiles = ProfileBook({"default": make_profile(), "big": make_profile(model="big")})
    registry.track(target(name="kept"))
    # The decision thread is busy (a refit, a back-fill) when the reload arrives, so the
    # reload waits there with its new profiles checked, while KEDA keeps calling.
    gate = threading.Event()
    busy = asyncio.ensure_future(registry.on_decider(gate.wait))
    reload = asyncio.ensure_future(
        registry.replace_profiles(ProfileBook({"default": make_profile(target_utilisation=0.5)}))
    )
    await asyncio.sleep(0.05)
    try:
        assert not reload.done()
        during = registry.track(target(model="mistral", name="new"))
        with pytest.raises(MetadataError, match="no profile named 'big'"):
            registry.track(big)  # the reload under way removes "big"
    finally:
        gate.set()
        await busy
        await reload
    assert {t.target.scaled_object for t in registry.all()} == {"serving/kept", "serving/new"}
    assert {t.engine.profile.target_utilisation for t in registry.all()} == {0.5}
    assert during.engine.profile.model == "mistral"
    await registry.close()


async def test_a_source_raising_something_unexpected_is_missing_data() -> None:
    """Not a MetricSourceError (a parsing bug on an odd answer): the sample is missing, so
    the answer ages and turns invalid as in an outage, instead of freezing."""
    broken = {"on": False}
    source = FakeMetricSource(fail=lambda: KeyError("resultType") if broken["on"] else None)
    source.latest_by_model["llama"] = steady(prompt_for_replicas(6))
    registry, clock = make_registry(source, staleness={"hold_after_s": 90, "error_after_s": 300})
    tracked = registry.track(target())
    assert (await registry.refresh_once(tracked)).valid
    broken["on"] = True
    clock.advance(301)
    stale = await registry.refresh_once(tracked)
    assert not stale.valid and stale.replicas == 6 and stale.data_age_s == 301
    assert tracked.last_error == "KeyError: 'resultType'"


async def test_past_the_limit_a_new_scaled_object_is_refused_and_counted() -> None:
    metrics = DecisionMetrics()
    registry, _ = make_registry(FakeMetricSource())
    registry.max_tracked = 2
    registry.on_refused = (metrics.count_refused,)
    first, second = registry.track(target(name="a")), registry.track(target(name="b"))
    with pytest.raises(TooManyScaledObjects, match="2 ScaledObjects.*'max_scaled_objects'"):
        registry.track(target(name="c"))
    assert registry.track(target(name="a")) is first  # tracked ones are still answered
    assert registry.track(target(name="b")) is second and len(registry) == 2
    assert metrics.registry.get_sample_value("prewarm_scaled_objects_refused_total") == 1
