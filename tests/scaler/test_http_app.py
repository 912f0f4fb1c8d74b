"""The scaler process's HTTP face over real HTTP: /healthz, /metrics, /models."""

from __future__ import annotations

import asyncio
import functools
import socket

import httpx
import pytest

from autoscaler.http.app import build_app
from autoscaler.scaler.app import ScalerApp
from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.metadata import parse_metadata
from autoscaler.scaler.profile_reloader import ProfileReloader
from tests.fakes import FakeMetricSource, fails_from_call, make_profile, prompt_for_replicas
from tests.scaler.scaler_helpers import FailingEngine, make_registry, steady, target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_health_metrics_and_models_over_http() -> None:
    source = FakeMetricSource()
    source.latest_by_model["llama"] = steady(prompt_for_replicas(6), ready=6)
    registry, _ = make_registry(source)
    metrics = DecisionMetrics()
    registry.listeners = (metrics,)
    tracked = registry.track(target())
    await registry.refresh_once(tracked)
    port = free_port()
    app = ScalerApp(registry, metrics, "127.0.0.1", 0, "127.0.0.1", port)
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):  # uvicorn binds a moment after the task starts
                try:
                    health = await client.get("/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert health.json() == {"status": "ok", "scaled_objects": 1}
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json() == {"status": "ready"}
            assert app._grpc is not None
            await app._grpc.stop(0)  # draining: readiness must drop before the pod goes
            assert (await client.get("/readyz")).status_code == 503
            exposition = (await client.get("/metrics")).text
            assert 'prewarm_desired_replicas{model="llama",scaled_object="serving/chat"} 6.0' in (
                exposition
            )
            assert 'prewarm_decision_valid{model="llama",scaled_object="serving/chat"} 1.0' in (
                exposition
            )
            models = (await client.get("/models")).json()
            assert models[0]["replicas"] == 6 and models[0]["reason"].startswith("reactive")
            # the profile metadata would name, not the model it was filled in for
            assert models[0]["model"] == "llama" and models[0]["profile"] == "default"
    finally:
        stop.set()
        await running


async def test_a_taken_http_port_is_an_error_naming_it_before_grpc_starts() -> None:
    registry, _ = make_registry(FakeMetricSource())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = ScalerApp(registry, DecisionMetrics(), "127.0.0.1", 0, "127.0.0.1", port)
        with pytest.raises(OSError, match=f"cannot listen for HTTP on 127.0.0.1:{port}"):
            await app.run(asyncio.Event())
    assert app._grpc is None  # nothing was started that would need stopping


async def test_a_failing_refresh_shows_as_invalid_on_models_and_metrics() -> None:
    source = FakeMetricSource()
    source.latest_by_model["llama"] = steady(prompt_for_replicas(6), ready=6)
    registry, clock = make_registry(source, staleness={"hold_after_s": 10, "error_after_s": 30})
    oom = MemoryError("Unable to allocate 96.0 GiB")
    registry.engine_for = functools.partial(FailingEngine, fail=fails_from_call(1, oom))
    metrics = DecisionMetrics()
    registry.listeners = (metrics,)
    tracked = registry.track(target())
    await registry.refresh_once(tracked)
    for _ in range(3):  # 45 s of failing refreshes: past the 30 s bound
        clock.advance(15)
        await registry.refresh_once(tracked)
    port = free_port()
    app = ScalerApp(registry, metrics, "127.0.0.1", 0, "127.0.0.1", port)
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):  # uvicorn binds a moment after the task starts
                try:
                    models = (await client.get("/models")).json()
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert models[0]["valid"] is False and models[0]["replicas"] == 6
            assert models[0]["data_age_s"] == 45
            assert "MemoryError: Unable to allocate 96.0 GiB" in models[0]["reason"]
            assert models[0]["refresh_error"] == "MemoryError: Unable to allocate 96.0 GiB"
            exposition = (await client.get("/metrics")).text
            labels = '{model="llama",scaled_object="serving/chat"}'
            assert f"prewarm_decision_valid{labels} 0.0" in exposition
            assert f"prewarm_data_age_seconds{labels} 45.0" in exposition
            failures = f"prewarm_refresh_failures_total{labels} "
            counted = [line for line in exposition.splitlines() if line.startswith(failures)]
            # 3, and one more if the app's own refresher has run once meanwhile
            assert float(counted[0].removeprefix(failures)) >= 3
    finally:
        stop.set()
        await running


async def test_http_errors_quote_little_of_what_they_were_sent() -> None:
    registry, _ = make_registry(FakeMetricSource())
    for i in range(50):
        metadata = {"model": f"m{i}", "profile": "default"}
        registry.track(parse_metadata(f"so{i}", "serving", metadata))
    # A reload that drops the profile all 50 use: 50 problems, one per ScaledObject.
    reloader = ProfileReloader(registry, lambda: {"other": make_profile()})
    app = build_app(registry, DecisionMetrics(), reloader=reloader, api_token="t")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://prewarm") as client:
        missing = await client.get("/models/" + "m" * 20_000)
        assert missing.status_code == 404
        assert "(20000 chars)" in missing.text and len(missing.text) < 300
        reload = await client.post("/profiles/reload", headers={"Authorization": "Bearer t"})
        assert reload.status_code == 422
        errors = reload.json()["errors"]
        assert len(errors) == 11 and errors[-1] == "and 40 more"
        assert "no profile named 'default'" in errors[0]
