"""PrometheusSource against a real Prometheus: back-filled history and a live scrape.

The history is 30 minutes of vLLM series at 15 s resolution from 2023 (fixed timestamps, so
nothing depends on the wall clock), written with promtool before the server starts:

    model       pod/engine     prompt tok/s  gen tok/s  running  waiting  kv    req/s
    llama       llama-p1/0     100           20         3        1        0.5   3
    llama       llama-p1/1      50           10         2        0        0.7   3   (restarts)
    llama       llama-p2/0      30            6         1        4        0.3   3
    llama-70b   big-p1/0         7            1         (pre-0.12 KV name `gpu_cache_usage_perc`)
    HOSTILE     evil-p1/0       11            2

so `llama` sums to 180 prompt / 36 generation tok/s, 6 running, 5 waiting, mean KV 0.5,
3 ready engines and 9 finished req/s. Its TTFT buckets (per engine and second: 5 requests
<= 0.1 s, 4 more <= 0.5 s, 1 more <= 1 s) put p95 at rank 9.5 of 10, halfway through the
(0.5, 1] bucket: 0.75 s.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from autoscaler.clock import ManualClock
from autoscaler.http.app import build_app
from autoscaler.metrics import prometheus_source
from autoscaler.metrics.decision_history import DecisionHistory
from autoscaler.metrics.prometheus_source import PrometheusSource
from autoscaler.metrics.promql import MetricNames
from autoscaler.metrics.source import MetricSource, MetricSourceError, ModelQuery
from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.metadata import parse_metadata
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry
from tests.fakes import make_profile
from tests.integration.prometheus_server import (
    PrometheusFactory,
    PrometheusServer,
    Sample,
    backfill,
    free_port,
    openmetrics,
    require_binary,
)
from tests.protocols import protocol_mismatches

T0 = 1_700_000_000.0
SCRAPE_S = 15.0
SPAN_S = 1800.0
RESTART_S = T0 + 893.0  # llama-p1 engine 1 restarts between the samples at +885 and +900
NS = "serving"
HOSTILE = 'x"} or vector(1) or {a="\\\n'
LLAMA_PROMPT = 180.0

# (model, pod, engine, prompt/s, gen/s, running, waiting, kv, restarts_at)
ENGINES = [
    ("llama", "llama-p1", "0", 100.0, 20.0, 3, 1, 0.5, None),
    ("llama", "llama-p1", "1", 50.0, 10.0, 2, 0, 0.7, RESTART_S),
    ("llama", "llama-p2", "0", 30.0, 6.0, 1, 4, 0.3, None),
    ("llama-70b", "big-p1", "0", 7.0, 1.0, 1, 0, 0.9, None),
    (HOSTILE, "evil-p1", "0", 11.0, 2.0, 1, 0, 0.2, None),
]
TTFT_CUMULATIVE_PER_S = {"0.1": 5.0, "0.5": 9.0, "1.0": 10.0, "+Inf": 10.0}
# DCGM: (gpu, labels naming the workload pod, engine active, framebuffer MiB)
GPUS = [
    ("0", {"pod": "dcgm-x", "namespace": "gpu", "exported_pod": "llama-p1",
           "exported_namespace": NS}, 0.8, 70000.0),  # honorLabels: false
    ("1", {"pod": "llama-p2", "namespace": NS}, 0.6, 50000.0),  # honorLabels: true
    ("2", {"pod": "dcgm-x", "namespace": "gpu", "exported_pod": "big-p1",
           "exported_namespace": NS}, 0.1, 10000.0),  # another model's pod
    ("3", {"pod": "dcgm-x", "namespace": "gpu", "exported_pod": "llama-p1",
           "exported_namespace": "staging"}, 0.0, 1.0),  # same pod name, other namespace
]  # fmt: skip


def vllm_history() -> Iterator[Sample]:
    times = [T0 + i * SCRAPE_S for i in range(int(SPAN_S / SCRAPE_S) + 1)]
    for model, pod, engine, prompt, gen, running, waiting, kv, restart in ENGINES:
        labels = {"model_name": model, "engine": engine, "pod": pod, "namespace": NS}
        kv_name = (
            "vllm:gpu_cache_usage_perc" if model == "llama-70b" else "vllm:kv_cache_usage_perc"
        )
        for t in times:
            # Counters count from the process start: 1000 s before T0, or the restart.
            up_s = t - restart if restart is not None and t >= restart else t - T0 + 1000.0
            counters = {
                ("vllm:prompt_tokens_total", ()): prompt,
                ("vllm:generation_tokens_total", ()): gen,
                ("vllm:request_success_total", (("finished_reason", "stop"),)): 2.0,
                ("vllm:request_success_total", (("finished_reason", "length"),)): 1.0,
                # Aborts were not served: requests_per_s must leave them out.
                ("vllm:request_success_total", (("finished_reason", "abort"),)): 4.0,
            }
            for le, per_s in TTFT_CUMULATIVE_PER_S.items():
                counters[("vllm:time_to_first_token_seconds_bucket", (("le", le),))] = per_s
            for (name, extra), per_s in counters.items():
                yield Sample(name, {**labels, **dict(extra)}, per_s * up_s, t)
            yield Sample("vllm:num_requests_running", labels, running, t)
            yield Sample("vllm:num_requests_waiting", labels, waiting, t)
            yield Sample(kv_name, labels, kv, t)
        # vLLM's `_created` sibling must never be read as the counter.
        yield Sample("vllm:prompt_tokens_created", labels, T0 - 1000.0, times[0])
    for gpu, labels, active, fb in GPUS:
        for t in times:
            yield Sample("DCGM_FI_PROF_GR_ENGINE_ACTIVE", {"gpu": gpu, **labels}, active, t)
            yield Sample("DCGM_FI_DEV_FB_USED", {"gpu": gpu, **labels}, fb, t)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    factory = PrometheusFactory(
        require_binary("prometheus"), require_binary("promtool"), tmp_path_factory.mktemp("loaded")
    )
    try:
        yield factory(history=vllm_history())
    finally:
        factory.close()


@pytest.fixture
def source(loaded: PrometheusServer) -> Iterator[PrometheusSource]:
    src = PrometheusSource(loaded.url)
    yield src
    src.close()


# --- latest() ---


async def test_latest_sums_over_pods_and_engines(source: PrometheusSource) -> None:
    obs = await source.latest(ModelQuery("llama"), T0 + 600)
    assert obs is not None
    assert obs.t_s == T0 + 600
    assert obs.prompt_tokens_per_s == pytest.approx(LLAMA_PROMPT, rel=1e-9)
    assert obs.generation_tokens_per_s == pytest.approx(36.0, rel=1e-9)
    assert obs.requests_running == 6
    assert obs.requests_waiting == 5
    assert obs.kv_cache_usage == pytest.approx(0.5)
    assert obs.ready_replicas == 3
    assert obs.requests_per_s == pytest.approx(9.0, rel=1e-9)
    assert obs.ttft_p95_s == pytest.approx(0.75, rel=1e-9)


async def test_the_namespace_narrows_the_query(source: PrometheusSource) -> None:
    assert await source.latest(ModelQuery("llama", NS), T0 + 600) is not None
    assert await source.latest(ModelQuery("llama", "staging"), T0 + 600) is None


@pytest.mark.parametrize(
    "model", ["mistral", "Llama", "llam", 'x"} or vector(1) or {a="', "a\\"], ids=repr
)
async def test_a_model_without_series_is_none(source: PrometheusSource, model: str) -> None:
    assert await source.latest(ModelQuery(model), T0 + 600) is None
    assert await source.history(ModelQuery(model), T0, T0 + SPAN_S, 60) == []


async def test_a_hostile_model_name_reads_only_its_own_series(source: PrometheusSource) -> None:
    obs = await source.latest(ModelQuery(HOSTILE), T0 + 600)
    assert obs is not None
    assert obs.prompt_tokens_per_s == pytest.approx(11.0, rel=1e-9)
    assert obs.ready_replicas == 1


@pytest.mark.parametrize(
    "model", ["nul\x00del\x7f", "tab\tcr\rls\u2028nbsp\xa0", "модель 🚀", "{}[]()$1.*"], ids=repr
)
async def test_prometheus_accepts_every_escape_we_write(
    source: PrometheusSource, model: str
) -> None:
    assert await source.latest(ModelQuery(model), T0 + 600) is None  # parsed, matched nothing


async def test_a_model_name_prefix_does_not_match(source: PrometheusSource) -> None:
    big = await source.latest(ModelQuery("llama-70b"), T0 + 600)
    assert big is not None
    assert big.prompt_tokens_per_s == pytest.approx(7.0, rel=1e-9)


async def test_pre_012_names_are_selectable(loaded: PrometheusServer) -> None:
    current = PrometheusSource(loaded.url)
    legacy = PrometheusSource(loaded.url, names=MetricNames.preset("pre-0.12"))
    now = await current.latest(ModelQuery("llama-70b"), T0 + 600)
    old = await legacy.latest(ModelQuery("llama-70b"), T0 + 600)
    assert now is not None and old is not None
    assert (now.ready_replicas, now.kv_cache_usage) == (0, 0.0)  # series missing: 0
    assert (old.ready_replicas, old.kv_cache_usage) == (1, pytest.approx(0.9))


# --- history() ---

W_S = 60.0
# A restart loses the tokens served between the last scrape before it and the restart
# (< one scrape interval); `rate()` extrapolates the window's increase over >= W - scrape s
# of samples, so the dip is at most r*scrape/(W - scrape) = 50*15/45 = 16.7 tok/s, and
# `rate()` never goes negative or spikes (a raw difference would read -0.9M/15 s).
RESTART_DIP = 50.0 * SCRAPE_S / (W_S - SCRAPE_S)


async def test_history_recovers_the_rates_through_a_counter_reset(
    source: PrometheusSource,
) -> None:
    start, end, step = T0 + 120, T0 + SPAN_S - 120, 30.0
    past = await source.history(ModelQuery("llama"), start, end, step)
    assert [o.t_s for o in past] == [start + i * step for i in range(int((end - start) / step) + 1)]
    touched = 0
    for obs in past:
        assert 0 < obs.prompt_tokens_per_s <= LLAMA_PROMPT * (1 + 1e-9)
        if RESTART_S <= obs.t_s < RESTART_S + W_S + SCRAPE_S:
            touched += 1
            assert obs.prompt_tokens_per_s >= LLAMA_PROMPT - RESTART_DIP
        else:
            assert obs.prompt_tokens_per_s == pytest.approx(LLAMA_PROMPT, rel=1e-9)
            assert obs.generation_tokens_per_s == pytest.approx(36.0, rel=1e-9)
            assert obs.ttft_p95_s == pytest.approx(0.75, rel=1e-9)
        assert (obs.requests_running, obs.requests_waiting, obs.ready_replicas) == (6, 5, 3)
    assert touched >= 2  # the reset really was inside the range


async def test_history_leaves_out_steps_without_data(source: PrometheusSource) -> None:
    past = await source.history(ModelQuery("llama"), T0 - 600, T0 + 300, 60)
    assert past[0].t_s == T0  # nothing before the first sample; gauges from T0 on
    assert past[-1].t_s == T0 + 300


async def test_a_long_step_widens_the_rate_window(source: PrometheusSource) -> None:
    # Over 5 min steps each point averages its step: the restart dip spreads thinner.
    past = await source.history(ModelQuery("llama"), T0 + 600, T0 + 1500, 300)
    assert len(past) == 4
    assert min(o.prompt_tokens_per_s for o in past) >= LLAMA_PROMPT - 50.0 * SCRAPE_S / 285


async def test_history_is_chunked_below_the_point_limit(
    source: PrometheusSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = await source.history(ModelQuery("llama"), T0 + 120, T0 + 1200, 15)
    monkeypatch.setattr(prometheus_source, "MAX_POINTS_PER_QUERY", 7)
    chunked = await source.history(ModelQuery("llama"), T0 + 120, T0 + 1200, 15)
    assert chunked == whole
    assert len(whole) == 73


# --- DCGM ---


async def test_gpu_signals_join_dcgm_to_the_models_pods(source: PrometheusSource) -> None:
    gpu = await source.gpu_signals(ModelQuery("llama", NS), T0 + 600)
    assert gpu is not None
    assert gpu.gpus == 2  # gpu 0 (exported_pod) and gpu 1 (pod); not big-p1, not staging
    assert gpu.engine_active == pytest.approx(0.7)
    assert gpu.fb_used_mib == pytest.approx(120000.0)
    assert await source.gpu_signals(ModelQuery(HOSTILE), T0 + 600) is None


# --- failures ---


async def test_an_unreachable_prometheus_is_an_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    src = PrometheusSource(url, timeout_s=1.0)
    with pytest.raises(MetricSourceError, match=f"Prometheus at {url}: cannot connect"):
        await src.latest(ModelQuery("llama"), T0)
    with pytest.raises(MetricSourceError, match=url):
        await src.history(ModelQuery("llama"), T0, T0 + 60, 15)


async def test_a_wrong_path_is_an_error_with_the_status(loaded: PrometheusServer) -> None:
    src = PrometheusSource(loaded.url + "/nope")
    with pytest.raises(MetricSourceError, match=r"/nope: HTTP 404 Not Found$"):
        await src.latest(ModelQuery("llama"), T0)


SECRET = "s3cret-body-of-the-answer"


class _NotPrometheus(BaseHTTPRequestHandler):
    """Answers every GET with the (status, body) the test set: whatever a URL a
    ScaledObject names might answer. Its body must never come back in an error."""

    answer: tuple[int, bytes] = (200, b"")

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        status, body = self.answer
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def not_prometheus() -> Iterator[tuple[str, type[_NotPrometheus]]]:
    handler = type("Handler", (_NotPrometheus,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


BODIES = [
    (500, f"internal error: {SECRET}".encode(), "HTTP 500 Internal Server Error"),
    (403, SECRET.encode() * 100, "HTTP 403 Forbidden"),
    (200, f"<html>{SECRET}</html>".encode(), "not a Prometheus API answer"),
    (200, b'{"status":"success","data":{"result":"' + SECRET.encode() + b'"}}', "got a str"),
    (
        200,
        b'{"status":"success","data":{"result":[{"metric":{"prewarm_signal":"x"},'
        b'"value":[1,"' + SECRET.encode() + b'"]}]}}',
        "not a Prometheus API answer",
    ),
]


@pytest.mark.parametrize(
    ("status", "body", "words"),
    BODIES,
    ids=["500", "403-long", "html", "not-a-vector", "not-a-number"],
)
async def test_an_answers_body_never_comes_back_in_the_error(
    not_prometheus: tuple[str, type[_NotPrometheus]], status: int, body: bytes, words: str
) -> None:
    url, handler = not_prometheus
    handler.answer = (status, body)
    src = PrometheusSource(url, timeout_s=2.0)
    reads = (
        lambda: src.latest(ModelQuery("llama"), T0),
        lambda: src.history(ModelQuery("llama"), T0, T0 + 60, 15),
    )
    for read in reads:
        with pytest.raises(MetricSourceError) as caught:
            await read()
        message = str(caught.value)
        assert words in message and url in message
        assert SECRET not in message and len(message) < 200


async def test_credentials_stay_out_of_errors() -> None:
    src = PrometheusSource(f"http://user:s3cret@127.0.0.1:{free_port()}")
    with pytest.raises(MetricSourceError) as caught:
        await src.latest(ModelQuery("llama"), T0)
    assert "s3cret" not in str(caught.value)


async def test_an_outage_mid_test_errors_then_recovers(
    prometheus_factory: PrometheusFactory,
) -> None:
    samples = [
        Sample("vllm:prompt_tokens_total", {"model_name": "m"}, 10.0 * i, T0 + i)
        for i in range(0, 300, 15)
    ]
    server = prometheus_factory(history=samples)
    src = PrometheusSource(server.url, timeout_s=1.0)
    before = await src.latest(ModelQuery("m"), T0 + 200)
    server.stop()
    with pytest.raises(MetricSourceError, match=server.url):
        await src.latest(ModelQuery("m"), T0 + 200)
    server.start()  # same port, same data dir
    assert await src.latest(ModelQuery("m"), T0 + 200) == before
    assert before is not None and before.prompt_tokens_per_s == pytest.approx(10.0)


async def test_models_and_grpc_errors_show_the_status_not_the_body(
    not_prometheus: tuple[str, type[_NotPrometheus]],
) -> None:
    """`/models` (unauthenticated) shows each source's last error, and KEDA's UNAVAILABLE
    quotes the same `last_error`."""
    url, handler = not_prometheus
    handler.answer = (502, f"upstream said: {SECRET}".encode())
    registry = _registry_over(url, T0)
    tracked = registry.track(parse_metadata("chat", NS, {"model": "llama"}))
    await registry.refresh_once(tracked)
    app = build_app(registry, DecisionMetrics())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://prewarm"
    ) as client:
        models = (await client.get("/models")).json()
    assert models[0]["source_error"] == f"Prometheus at {url}: HTTP 502 Bad Gateway"
    assert SECRET not in tracked.last_error


# --- live scrape ---

LIVE_PROMPT_PER_S = 1000.0


class _VllmLike(BaseHTTPRequestHandler):
    started = time.monotonic()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        up_s = time.monotonic() - self.started
        labels = '{model_name="live",engine="0"}'
        body = (
            f"vllm:prompt_tokens_total{labels} {LIVE_PROMPT_PER_S * up_s}\n"
            f"vllm:generation_tokens_total{labels} {100.0 * up_s}\n"
            f"vllm:num_requests_running{labels} 2\n"
            f"vllm:kv_cache_usage_perc{labels} 0.25\n"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


async def test_latest_sees_a_live_scraped_rate(prometheus_factory: PrometheusFactory) -> None:
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _VllmLike)
    thread = threading.Thread(target=exporter.serve_forever, daemon=True)
    thread.start()
    try:
        target = f"127.0.0.1:{exporter.server_address[1]}"
        server = prometheus_factory(targets=[target], scrape_interval_s=1.0)
        # A series younger than the rate window reads low (rate() divides by the whole
        # window), so a 4 s window at 1 s scrapes reads right ~5 s after the first scrape (which
        # Prometheus delays ~5 s: service discovery updates are throttled to one per 5 s).
        src = PrometheusSource(server.url, rate_window_s=4)
        deadline = time.monotonic() + 30.0
        obs = None
        while time.monotonic() < deadline:
            obs = await src.latest(ModelQuery("live"), time.time())
            if obs is not None and math.isclose(
                obs.prompt_tokens_per_s, LIVE_PROMPT_PER_S, rel_tol=0.05
            ):
                break
            await asyncio.sleep(0.5)
        assert obs is not None, f"no series scraped from {target}:\n{server.log_tail()}"
        assert obs.prompt_tokens_per_s == pytest.approx(LIVE_PROMPT_PER_S, rel=0.05)
        assert obs.generation_tokens_per_s == pytest.approx(100.0, rel=0.05)
        assert (obs.requests_running, obs.kv_cache_usage, obs.ready_replicas) == (2, 0.25, 1)
    finally:
        exporter.shutdown()
        exporter.server_close()


# --- the helper itself ---


def test_backfill_works_for_data_up_to_now(
    prometheus_binary: Path, promtool_binary: Path, tmp_path: Path
) -> None:
    now = float(int(time.time()))
    samples = [Sample("recent", {"k": "v"}, float(i), now - 600 + i) for i in range(0, 601, 15)]
    backfill(promtool_binary, openmetrics(reversed(samples)), tmp_path / "data")  # sorted
    with PrometheusServer(prometheus_binary, tmp_path / "data") as server:
        src = PrometheusSource(server.url)
        result = src._instant('label_replace(recent, "prewarm_signal", "v", "", "")', now)
    assert result == {"v": 600.0}


def test_backfill_needs_eof(promtool_binary: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="# EOF"):
        backfill(promtool_binary, "up 1 1700000000\n", tmp_path / "data")


@pytest.mark.parametrize(("ci", "outcome"), [("true", "fail"), ("", "skip")], ids=["ci", "dev"])
def test_a_missing_binary_fails_under_ci_and_skips_otherwise(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: str
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match="`prometheus` is not on PATH"):
        require_binary("prometheus")


def test_it_satisfies_the_protocol() -> None:
    assert protocol_mismatches(PrometheusSource, MetricSource) == []
    # It also reads back Prewarm's own answers after a restart (decision_history.py).
    assert protocol_mismatches(PrometheusSource, DecisionHistory) == []


# --- a model without series, through the registry ---


def _registry_over(url: str, now_s: float, **overrides: object) -> ScalerRegistry:
    profile = make_profile(model="llama", **overrides)
    return ScalerRegistry(
        ProfileBook({"default": profile}), lambda _: PrometheusSource(url), ManualClock(now_s)
    )


async def test_a_model_scaled_to_zero_is_a_fresh_zero_that_the_forecast_can_wake(
    loaded: PrometheusServer,
) -> None:
    """An hour after llama's pods went away Prometheus has no series for it. The decision
    is made on "nothing serves, nothing queued" (not a stale hold at 0), so the forecast
    from the back-filled history reaches IsActive."""
    registry = _registry_over(
        loaded.url,
        T0 + SPAN_S + 3600,
        replicas={"min": 0},
        forecast={"kind": "last-value", "history_s": 3 * 3600.0},
    )
    tracked = registry.track(parse_metadata("chat", NS, {"model": "llama"}))
    try:
        assert await registry.backfill_history(tracked) > 0
        assert await tracked.source.latest(tracked.query, T0 + SPAN_S + 3600) is None
        decision = await registry.refresh_once(tracked)
        assert decision.valid and decision.data_age_s == 0, decision.reason
        assert decision.forecast_replicas >= 1 and tracked.active
    finally:
        await registry.close()


async def test_series_vanishing_under_a_serving_fleet_hold_it(loaded: PrometheusServer) -> None:
    """400 s after the last scrape (beyond Prometheus' 5 min lookback) a restarted scaler
    finds no series; the back-fill says 3 engines served 400 s ago: hold 3, never 0."""
    now_s = T0 + SPAN_S + 400
    registry = _registry_over(loaded.url, now_s, replicas={"min": 0})
    tracked = registry.track(parse_metadata("chat", NS, {"model": "llama"}))
    try:
        await registry.backfill_history(tracked)
        assert await tracked.source.latest(tracked.query, now_s) is None
        decision = await registry.refresh_once(tracked)
        assert decision.replicas == 3 and decision.valid and "holding" in decision.reason
    finally:
        await registry.close()
