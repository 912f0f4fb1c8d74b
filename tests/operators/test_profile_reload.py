"""Profile reload without restart: all or nothing, history and replicas kept."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from autoscaler.engine import ModelEngine
from autoscaler.observation import Observation
from autoscaler.profile import load_profile
from autoscaler.scaler.metadata import MetadataError, parse_metadata
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.profile_reloader import ProfileReloader
from autoscaler.window import Window
from tests.fakes import FakeMetricSource, make_profile, profile_data, prompt_for_replicas
from tests.scaler.scaler_helpers import make_registry, steady, target


def obs(t_s: float, prompt: float) -> Observation:
    return Observation(t_s, prompt, prompt / 4, 1, 0, 0.1, 2)


def test_resized_window_keeps_history_rebucketed() -> None:
    window = Window(60.0, 3600.0)
    for minute in range(30):
        window.add(obs(minute * 60.0 + 10, 100.0 * (minute // 5)))  # steps every 5 minutes
    coarse = window.resized(300.0, 7200.0, now_s=1800.0)
    values, end_s = coarse.complete(1800.0)
    assert end_s == 1800.0
    np.testing.assert_allclose(values[0], [0, 100, 200, 300, 400, 500])
    np.testing.assert_allclose(values[1], values[0] / 4)
    assert coarse.latest == window.latest


def test_engine_reconfigure_keeps_history_and_replicas() -> None:
    engine = ModelEngine(make_profile(), initial_replicas=5)
    for minute in range(120):
        engine.observe(obs(minute * 60.0, 1000.0))
    engine.decide(7200.0)
    replicas = engine.state.replicas
    finer = make_profile(cold_start_s=900.0, forecast={"kind": "last-value", "bucket_s": 30.0})
    engine.reconfigure(finer, 7200.0)
    assert engine.profile.cold_start_s == 900.0
    assert engine.window.bucket_s == 30.0
    history, _ = engine.window.complete(7200.0)
    assert np.isfinite(history[0]).sum() >= 100  # the two hours survived re-bucketing
    assert engine.state.replicas == replicas
    assert engine.decide(7215.0).replicas >= 1
    assert engine.last_forecasts is not None and engine.last_forecasts[0].method == "last-value"


async def test_reload_rejects_removing_a_profile_in_use() -> None:
    source = FakeMetricSource()
    registry, _ = make_registry(source)
    registry.profiles = ProfileBook({"default": make_profile(), "big": make_profile(model="big")})
    registry.track(parse_metadata("chat", "serving", {"model": "llama", "profile": "big"}))
    with pytest.raises(MetadataError, match="serving/chat.*no profile named 'big'"):
        await registry.replace_profiles(ProfileBook({"default": make_profile()}))
    assert set(registry.profiles.profiles) == {"default", "big"}  # nothing changed


async def test_reload_swaps_engine_profiles_and_reports_changes(tmp_path: Path) -> None:
    source = FakeMetricSource()
    source.latest_by_model["llama"] = steady(prompt_for_replicas(2), ready=2)
    registry, _ = make_registry(source)
    tracked = registry.track(target())
    await registry.refresh_once(tracked)
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(profile_data(replicas={"min": 7, "max": 64})))
    reloader = ProfileReloader(registry, lambda: {"default": load_profile(path)}, lambda: [path])
    result = await reloader.reload()
    assert result.applied and result.changed == ("default",)
    assert tracked.engine.profile.replicas.min == 7
    assert tracked.engine.profile.model == "llama"  # the default adopted for the model
    assert (await registry.refresh_once(tracked)).replicas == 7


async def test_watcher_reloads_only_after_a_file_changes(tmp_path: Path) -> None:
    registry, _ = make_registry(FakeMetricSource())
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(profile_data()))
    loads = []

    def load() -> dict[str, object]:
        loads.append(1)
        return {"default": load_profile(path)}

    reloader = ProfileReloader(registry, load, lambda: [path])  # type: ignore[arg-type]
    assert await reloader.check() is None and not loads
    path.write_text(yaml.safe_dump(profile_data(cold_start_s=120.0)))
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse-clock filesystems
    result = await reloader.check()
    assert result is not None and result.applied
    assert registry.profiles.profiles["default"].cold_start_s == 120.0
    assert await reloader.check() is None and len(loads) == 1

    path.write_text("capacity: {prompt_tokens_per_s: -1}\n")
    os.utime(path, ns=(2, 2))
    bad = await reloader.check()
    assert bad is not None and not bad.applied and bad.errors
    assert registry.profiles.profiles["default"].cold_start_s == 120.0
    assert await reloader.check() is None  # the same bad file is not retried every tick


async def test_the_watch_loop_checks_on_the_registrys_clock(tmp_path: Path) -> None:
    registry, clock = make_registry(FakeMetricSource())
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(profile_data()))
    reloader = ProfileReloader(registry, lambda: {"default": load_profile(path)}, lambda: [path])
    watching = asyncio.create_task(reloader.watch(10.0))
    try:
        await clock.sleeping(1)
        path.write_text(yaml.safe_dump(profile_data(cold_start_s=120.0)))
        os.utime(path, ns=(1, 1))
        await clock.tick(9.0)
        await clock.sleeping(1)
        assert registry.profiles.profiles["default"].cold_start_s != 120.0  # not checked yet
        await clock.tick(1.0)
        await clock.sleeping(1)  # checked, reloaded (in a thread) and parked again
        assert registry.profiles.profiles["default"].cold_start_s == 120.0
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
