"""The operators' HTTP API over real HTTP: reads open, mutations behind a bearer token,
profile reload validated whole and swapped atomically."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from autoscaler.http import model_views, models_api
from autoscaler.observation import Observation
from autoscaler.profile import load_profile
from autoscaler.scaler.app import ScalerApp
from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.profile_reloader import ProfileReloader
from autoscaler.scaler.registry import ScalerRegistry
from tests.fakes import FakeMetricSource, profile_data, prompt_for_replicas
from tests.scaler.scaler_helpers import START_S, steady, target

TOKEN = "op-token-123"
MODEL = "meta-llama/Llama-3.1-8B"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    client: httpx.AsyncClient
    registry: ScalerRegistry
    profile_file: Path


def write_profile(path: Path, **overrides: object) -> None:
    path.write_text(yaml.safe_dump(profile_data(**overrides)))


async def start_server(tmp_path: Path, token: str | None) -> AsyncIterator[Server]:
    profile_file = tmp_path / "default.yaml"
    write_profile(profile_file)
    source = FakeMetricSource()
    source.latest_by_model[MODEL] = steady(prompt_for_replicas(3), ready=3)
    # A day and a half of minutes with a daily cycle, for the backtest endpoint.
    minutes = np.arange(1, 36 * 60 + 1)
    source.history_by_model[MODEL] = [
        Observation(
            START_S - 36 * 3600 + m * 60.0,
            1000 + 500 * np.sin(2 * np.pi * m / 1440),
            100.0,
            5,
            0,
            0.1,
            3,
        )
        for m in minutes
    ]
    from autoscaler.clock import ManualClock

    clock = ManualClock(START_S)
    registry = ScalerRegistry(
        ProfileBook({"default": load_profile(profile_file)}),
        lambda url: source,
        clock,
        backfill=False,
    )
    tracked = registry.track(target(model=MODEL))
    # Three hours of history with a gap, so /history has data and nulls to show.
    for minute in range(180):
        if 100 <= minute < 105:
            continue
        t_s = START_S - (180 - minute) * 60.0
        tracked.engine.observe(Observation(t_s, 1000.0 + minute, 200.0, 5, 0, 0.1, 3))
    await registry.refresh_once(tracked)

    def load() -> dict[str, object]:
        return {"default": load_profile(profile_file)}

    reloader = ProfileReloader(registry, load, lambda: [profile_file])  # type: ignore[arg-type]
    async with serving(registry, reloader=reloader, api_token=token) as client:
        yield Server(client, registry, profile_file)


@contextlib.asynccontextmanager
async def serving(registry: ScalerRegistry, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The whole ScalerApp over `registry` on loopback, and a client of its HTTP side."""
    port = free_port()
    app = ScalerApp(registry, DecisionMetrics(), "127.0.0.1", 0, "127.0.0.1", port, **options)
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(stop))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(200):  # uvicorn binds a moment after the task starts
            try:
                await client.get("/healthz")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        try:
            yield client
        finally:
            stop.set()
            await running


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async for s in start_server(tmp_path, TOKEN):
        yield s


@pytest.fixture
async def tokenless(tmp_path: Path) -> AsyncIterator[Server]:
    async for s in start_server(tmp_path, None):
        yield s


async def test_models_list_and_detail_with_slash_in_name(server: Server) -> None:
    listed = (await server.client.get("/models")).json()
    assert [m["model"] for m in listed] == [MODEL]
    assert listed[0]["replicas"] == 3 and listed[0]["valid"] is True
    detail = await server.client.get(f"/models/{MODEL}")
    assert detail.status_code == 200
    assert detail.json()["scaled_object"] == "serving/chat"
    missing = await server.client.get("/models/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


async def test_history_json_has_gaps_as_null_and_the_forecast(server: Server) -> None:
    body = (await server.client.get(f"/models/{MODEL}/history", params={"hours": 3})).json()
    history = body["history"]
    assert body["bucket_s"] == 60.0
    assert len(history["t_s"]) == 180
    assert history["t_s"] == sorted(history["t_s"])
    assert history["prompt_tokens_per_s"].count(None) == 5  # the five missing minutes
    assert history["prompt_tokens_per_s"][-1] == pytest.approx(1179.0)
    forecast = body["forecast"]
    assert forecast["t_s"][0] == body["end_s"]
    mean, upper = forecast["prompt_tokens_per_s"]["mean"], forecast["prompt_tokens_per_s"]["upper"]
    assert len(mean) == len(forecast["t_s"]) > 1
    assert all(u >= m for m, u in zip(mean, upper, strict=True))
    one_hour = (await server.client.get(f"/models/{MODEL}/history", params={"hours": 1})).json()
    assert len(one_hour["history"]["t_s"]) == 60


async def test_history_png_is_a_png(server: Server) -> None:
    response = await server.client.get(f"/models/{MODEL}/history.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n") and len(response.content) > 5000


async def test_effective_profile_has_defaults_filled_in(server: Server) -> None:
    profile = (await server.client.get(f"/models/{MODEL}/profile")).json()
    assert profile["cold_start_s"] == 300.0
    assert profile["model"] == MODEL  # the default profile adopted for this model
    assert profile["forecast"]["kind"] == "holt-winters"
    assert profile["replicas"] == {"min": 1, "max": 64}


async def test_reload_needs_the_bearer_token(server: Server) -> None:
    none = await server.client.post("/profiles/reload")
    assert none.status_code == 401 and none.headers["www-authenticate"] == "Bearer"
    wrong = await server.client.post("/profiles/reload", headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401


async def test_reload_without_configured_token_is_disabled(tokenless: Server) -> None:
    response = await tokenless.client.post(
        "/profiles/reload", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 403 and "api_token_file" in response.json()["detail"]


async def test_valid_reload_applies_and_invalid_keeps_the_old(server: Server) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    write_profile(server.profile_file, cold_start_s=600.0)
    applied = await server.client.post("/profiles/reload", headers=auth)
    assert applied.status_code == 200
    assert applied.json() == {
        "applied": True,
        "profiles": ["default"],
        "changed": ["default"],
        "errors": [],
    }
    profile = (await server.client.get(f"/models/{MODEL}/profile")).json()
    assert profile["cold_start_s"] == 600.0

    write_profile(server.profile_file, cold_start_s=900.0, cold_start=5, replicas={"min": -1})
    rejected = await server.client.post("/profiles/reload", headers=auth)
    assert rejected.status_code == 422
    errors = "\n".join(rejected.json()["errors"])
    assert "cold_start: unknown key" in errors and "replicas.min" in errors  # all at once
    profile = (await server.client.get(f"/models/{MODEL}/profile")).json()
    assert profile["cold_start_s"] == 600.0  # the old profile stays in force

    server.profile_file.write_text("model: [unclosed")
    broken = await server.client.post("/profiles/reload", headers=auth)
    assert broken.status_code == 422 and "not valid YAML" in broken.json()["errors"][0]


async def test_openapi_schema_documents_the_api_and_its_bearer(server: Server) -> None:
    schema = (await server.client.get("/openapi.json")).json()
    assert {"/models", "/models/{model}/history", "/profiles/reload"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" in schema["paths"]["/profiles/reload"]["post"]
    assert "security" not in schema["paths"]["/models"]["get"]
    gpu = schema["paths"]["/models/{model}/gpu"]["get"]
    assert "security" not in gpu  # a read, open like the other reads
    ok = gpu["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/GpuReading"}
    reading = schema["components"]["schemas"]["GpuReading"]["properties"]
    assert {"model", "at_s", "gpus", "engine_active", "fb_used_mib"} <= set(reading)
    assert {"404", "502"} <= set(gpu["responses"])


async def test_demo_mode_has_no_gpu_signals_and_says_so() -> None:
    """`serve --demo` reads the built-in vLLM emulator: nothing there reports GPUs."""
    from autoscaler.clock import ManualClock
    from prewarm_cli.serve import BUNDLED_PROFILE, DEMO_MODEL, _demo_sources

    profiles = {"default": load_profile(BUNDLED_PROFILE)}
    clock = ManualClock(START_S)
    registry = ScalerRegistry(
        ProfileBook(profiles), _demo_sources(profiles, clock, 1.0), clock, backfill=False
    )
    registry.track(target(model=DEMO_MODEL))
    async with serving(registry) as client:
        response = await client.get(f"/models/{DEMO_MODEL}/gpu")
        assert response.status_code == 404
        detail = response.json()["detail"]
        assert detail.startswith(f"no GPU signals for model {DEMO_MODEL!r}: DCGM is read from")
        assert "serve --demo" in detail


async def test_backtest_runs_on_the_models_own_history(server: Server) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = {"horizon_s": 300, "lookback_s": 36 * 3600, "forecasters": ["last-value", "kalman"]}
    unauthorised = await server.client.post(f"/models/{MODEL}/backtest", json=body)
    assert unauthorised.status_code == 401
    response = await server.client.post(
        f"/models/{MODEL}/backtest", json=body, headers=auth, timeout=120
    )
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["horizon_s"] == 300 and doc["horizon_steps"] == 5
    assert set(doc["forecasters"]) == {"last-value", "kalman"}
    for scores in doc["forecasters"].values():
        assert 0 <= scores["wape"] < 0.2  # a smooth sine: both track it closely
        assert 0 <= scores["under_provisioned_fraction"] <= 1
    # Holding the value 5 minutes on this sine errs by 500 * 2 pi * 5 / 1440 * mean|cos|
    # ~= 6.9 tok/s against ~1,100 tok/s of demand: WAPE ~= 0.0063.
    assert doc["forecasters"]["last-value"]["wape"] == pytest.approx(0.0063, rel=0.25)

    bad = await server.client.post(
        f"/models/{MODEL}/backtest", json={"forecasters": ["prophet"]}, headers=auth
    )
    assert bad.status_code == 422 and "prophet" in bad.json()["detail"]
    typo = await server.client.post(
        f"/models/{MODEL}/backtest", json={"horizon": 300}, headers=auth
    )
    assert typo.status_code == 422 and "horizon" in typo.text


@pytest.mark.parametrize(
    ("write", "said"),
    [
        (lambda p: p.write_bytes(bytes(range(256))), "not UTF-8 text"),
        (lambda p: p.write_bytes("model: llama\n".encode("utf-16")), "not UTF-8 text"),
        (lambda p: (p.unlink(), p.mkdir()), "cannot read"),
        (
            lambda p: p.write_text("model: " + "[" * 5000 + "]" * 5000),
            "not valid YAML: nested too deeply",
        ),
    ],
    ids=["binary", "utf-16", "directory", "deeply-nested"],
)
async def test_reload_of_an_unreadable_profile_file_is_rejected_naming_it(
    server: Server, write: Callable[[Path], object], said: str
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    write(server.profile_file)
    rejected = await server.client.post("/profiles/reload", headers=auth)
    assert rejected.status_code == 422, rejected.text
    body = rejected.json()
    assert body["applied"] is False and body["profiles"] == ["default"]
    assert len(body["errors"]) == 1
    assert body["errors"][0].startswith(f"{server.profile_file}: {said}")
    profile = await server.client.get(f"/models/{MODEL}/profile")
    assert profile.json()["cold_start_s"] == 300.0  # the old profile stays in force


async def test_history_png_renders_off_the_event_loop_a_few_at_a_time(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Semaphore(0), threading.Event()
    on_loop: list[bool] = []
    real = model_views.history_png

    def held(payload: dict[str, Any], title: str) -> bytes:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:  # a worker thread has no running loop
            on_loop.append(False)
        entered.release()
        release.wait(10)  # bounded: a render on the loop's thread freezes this test as well
        return real(payload, title)

    monkeypatch.setattr(model_views, "history_png", held)
    url = f"/models/{MODEL}/history.png"
    slots = models_api.PNG_RENDER_SLOTS
    renders = [asyncio.create_task(server.client.get(url, timeout=60)) for _ in range(slots)]
    try:
        for _ in range(slots):
            assert await asyncio.to_thread(entered.acquire, timeout=30)
        assert on_loop == [False] * slots  # drawn in worker threads, never on the event loop
        ready = await server.client.get("/readyz", timeout=5)
        assert ready.status_code == 200  # the kubelet's probe answers while they draw
        busy = await server.client.get(url)
        assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
        assert "already running" in busy.json()["detail"]
    finally:
        release.set()
    assert [(await r).status_code for r in renders] == [200] * slots
    again = await server.client.get(url)
    assert again.status_code == 200  # the slots are free again


LOOKUP = {"404", "409"}  # find_tracked: unknown model, or several namespaces serve it
AUTH = {"401", "403"}  # require_token: no/wrong bearer, or no token configured


@pytest.mark.parametrize(
    ("method", "path", "codes"),
    [
        ("post", "/profiles/reload", {"200", "409", "422"} | AUTH),
        ("post", "/models/{model}/backtest", {"200", "422", "429", "502"} | LOOKUP | AUTH),
        ("get", "/models/{model}/gpu", {"200", "422", "502"} | LOOKUP),
        ("get", "/models/{model}/history", {"200", "422"} | LOOKUP),
        ("get", "/models/{model}/history.png", {"200", "422", "429"} | LOOKUP),
        ("get", "/models/{model}/profile", {"200", "422"} | LOOKUP),
        ("get", "/models/{model}", {"200", "422"} | LOOKUP),
        ("get", "/readyz", {"200", "503"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_openapi_documents_every_status_an_operation_gives(
    server: Server, method: str, path: str, codes: set[str]
) -> None:
    schema = (await server.client.get("/openapi.json")).json()
    documented = set(schema["paths"][path][method]["responses"])
    assert codes <= documented, f"undocumented: {sorted(codes - documented)}"


async def test_openapi_bounds_every_number_a_client_sends(server: Server) -> None:
    """A client (or a schema-driven probe) can tell a valid number from the schema alone."""
    schema = (await server.client.get("/openapi.json")).json()
    numbers: dict[str, dict[str, Any]] = {}
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                if param["schema"].get("type") in ("number", "integer"):
                    numbers[f"{method} {path} ?{param['name']}"] = param["schema"]
    for name, model in schema["components"]["schemas"].items():
        if name.endswith("Request"):
            for field, prop in model["properties"].items():
                if prop.get("type") in ("number", "integer"):
                    numbers[f"{name}.{field}"] = prop
    assert (
        "BacktestRequest.horizon_s" in numbers and "get /models/{model}/history ?hours" in numbers
    )
    for where, prop in numbers.items():
        assert {"minimum", "exclusiveMinimum"} & set(prop), f"{where} has no lower bound"
        assert {"maximum", "exclusiveMaximum"} & set(prop), f"{where} has no upper bound"
