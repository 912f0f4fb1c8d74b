"""`GET /models/{model}/gpu` over real HTTP, read from a real Prometheus holding DCGM series.

Ten minutes of 2023 samples, labelled as dcgm-exporter labels them (see
shared/reference/dcgm_metrics_example.txt): one node, a whole H100 and an H100 in MIG.

    GPU             workload pod (namespace llm-serving)  scraped with      engine  FB MiB
    0 (whole)       llama-...-x2kqp                        honorLabels: true   0.8   74690
    1 MIG 3g.40gb   llama-...-b5v7d                        honorLabels: false  0.6   (none: MIG)
    1 MIG 1g.10gb   reranker (namespace search, not vLLM)  honorLabels: true   0.2   -
    1 MIG 1g.10gb   no workload                            -                   0.0   -

so Llama reads 2 GPUs, engine active 0.7, 74,690 MiB; Qwen serves (vLLM series) on GPUs whose
DCGM series are not scraped: no reading.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from autoscaler.clock import ManualClock
from autoscaler.scaler.metadata import parse_metadata
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.prometheus_addresses import PrometheusAddresses
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.serve_config import ServeConfig
from prewarm_cli.serve import _prometheus_sources
from tests.fakes import make_profile
from tests.integration.prometheus_server import (
    PrometheusFactory,
    PrometheusServer,
    Sample,
    free_port,
    require_binary,
)
from tests.operators.test_operators_api import serving

T0 = 1_700_000_000.0
NOW_S = T0 + 600
NS = "llm-serving"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QWEN = "Qwen/Qwen2.5-7B-Instruct"
LLAMA_WHOLE = "llama-3-1-8b-instruct-predictor-7c9f6d5b8-x2kqp"
LLAMA_MIG = "llama-3-1-8b-instruct-predictor-7c9f6d5b8-b5v7d"

H100 = {
    "modelName": "NVIDIA H100 80GB HBM3",
    "Hostname": "gpu-node-a17",
    "DCGM_FI_DRIVER_VERSION": "580.105.08",
}
GPU0 = {
    "gpu": "0",
    "UUID": "GPU-6a3f0c2e-91d4-5b7e-8c1a-2f4d9e7b0a53",
    "pci_bus_id": "00000000:18:00.0",
    "device": "nvidia0",
    **H100,
}
GPU1 = {
    "gpu": "1",
    "UUID": "GPU-d81b47a9-3e02-c6f5-14b8-7a90e2c3f6d1",
    "pci_bus_id": "00000000:2A:00.0",
    "device": "nvidia1",
    **H100,
}
EXPORTER = {"pod": "nvidia-dcgm-exporter-9xq2t", "namespace": "gpu-operator"}
# (labels, engine active, framebuffer MiB or None where dcgm-exporter does not export it)
DCGM = [
    ({**GPU0, "container": "vllm", "namespace": NS, "pod": LLAMA_WHOLE}, 0.8, 74690.0),
    ({**GPU1, "GPU_I_PROFILE": "3g.40gb", "GPU_I_ID": "2", "container": "vllm", **EXPORTER,
      "exported_namespace": NS, "exported_pod": LLAMA_MIG}, 0.6, None),
    ({**GPU1, "GPU_I_PROFILE": "1g.10gb", "GPU_I_ID": "9", "container": "reranker",
      "namespace": "search", "pod": "reranker-7b5c6d9f8-kq2pw"}, 0.2, None),
    ({**GPU1, "GPU_I_PROFILE": "1g.10gb", "GPU_I_ID": "10"}, 0.0, None),
]  # fmt: skip
VLLM_PODS = [(LLAMA, LLAMA_WHOLE), (LLAMA, LLAMA_MIG), (QWEN, "qwen2-5-7b-predictor-5d8b9-q7mzl")]


def samples() -> Iterator[Sample]:
    for t in (T0 + i * 15.0 for i in range(41)):
        for model, pod in VLLM_PODS:
            labels = {"model_name": model, "engine": "0", "namespace": NS, "pod": pod}
            yield Sample("vllm:kv_cache_usage_perc", labels, 0.4, t)
        for labels, active, fb_mib in DCGM:
            yield Sample("DCGM_FI_PROF_GR_ENGINE_ACTIVE", labels, active, t)
            if fb_mib is not None:
                yield Sample("DCGM_FI_DEV_FB_USED", labels, fb_mib, t)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    factory = PrometheusFactory(
        require_binary("prometheus"), require_binary("promtool"), tmp_path_factory.mktemp("gpu")
    )
    try:
        yield factory(history=samples())
    finally:
        factory.close()


@pytest.fixture
async def client(prometheus: PrometheusServer) -> AsyncIterator[httpx.AsyncClient]:
    """The scaler as `prewarm serve --config` wires it, its clock at NOW_S, tracking Llama,
    Qwen, and a model whose ScaledObject names a Prometheus that is down."""
    config = ServeConfig.model_validate({"prometheus": {"url": prometheus.url, "timeout_s": 1}})
    registry = ScalerRegistry(
        ProfileBook({"default": make_profile()}),
        _prometheus_sources(config),
        ManualClock(NOW_S),
        backfill=False,
    )
    dead = f"http://127.0.0.1:{free_port()}"
    registry.track(parse_metadata("llama", NS, {"model": LLAMA}))
    registry.track(parse_metadata("qwen", NS, {"model": QWEN}))
    # Listening, never answering: the kernel completes the handshake, nobody reads.
    with socket.create_server(("127.0.0.1", 0)) as stuck:
        url = f"http://127.0.0.1:{stuck.getsockname()[1]}"
        # Both listed, as the serve config's prometheus.allowed_addresses would.
        registry.prometheus_addresses = PrometheusAddresses(prometheus.url, frozenset({dead, url}))
        registry.track(parse_metadata("down", NS, {"model": "down", "prometheusAddress": dead}))
        registry.track(parse_metadata("stuck", NS, {"model": "stuck", "prometheusAddress": url}))
        async with serving(registry) as http:
            yield http


async def test_gpu_readings_of_the_models_pods(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/models/{LLAMA}/gpu")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model": LLAMA,
        "namespace": NS,
        "at_s": NOW_S,
        "gpus": 2,  # the whole GPU and the 3g.40gb instance; not the reranker's, not the idle one
        "engine_active": pytest.approx(0.7),
        "fb_used_mib": 74690.0,  # the MIG instance exports no framebuffer
    }
    narrowed = await client.get(f"/models/{LLAMA}/gpu", params={"namespace": NS})
    assert narrowed.status_code == 200 and narrowed.json()["gpus"] == 2


async def test_no_dcgm_series_for_the_pods_is_a_404_saying_so(
    client: httpx.AsyncClient, prometheus: PrometheusServer
) -> None:
    response = await client.get(f"/models/{QWEN}/gpu")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert f"no DCGM series for model {QWEN!r}'s pods" in detail and prometheus.url in detail


async def test_an_unknown_model_is_a_404_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/models/mistral/gpu")
    assert response.status_code == 404
    assert response.json()["detail"] == "no ScaledObject asks about model 'mistral'"


@pytest.mark.parametrize(
    ("model", "reason"),
    # `stuck`: the 502 only; PrometheusSource words its read timeout as "cannot connect".
    [("down", "cannot connect ([Errno 111]"), ("stuck", "")],
)
async def test_a_failing_prometheus_is_a_502_naming_it(
    client: httpx.AsyncClient, model: str, reason: str
) -> None:
    response = await client.get(f"/models/{model}/gpu")
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert detail.startswith(f"reading {model}'s GPU signals failed: Prometheus at http://127.")
    assert reason in detail
