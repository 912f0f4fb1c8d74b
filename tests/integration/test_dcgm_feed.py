"""The placement loop's DCGM feed against a real Prometheus holding dcgm-exporter series
(labelled as ../shared/reference/dcgm_metrics_example.txt labels them): what it reads is what
the health classifier needs, and stale or absent series are no evidence.

    GPU   series (10 minutes of 2023 samples, every 15 s)           verdict
    A     XID 79 (fallen off the bus)                                unhealthy
    B     thermal violation counter +0.8 s per s; MIG, 2 instances   throttled (SW thermal too)
    C     XID 0, clocks event reasons 0x4 (SW power cap: by design)  healthy
    D     XID 48, but its exporter went quiet 5 minutes ago          no reading

Engine activity per model (DCGM_FI_PROF_GR_ENGINE_ACTIVE joined on namespace and pod with the
model's vLLM series; the second Qwen pod is scraped with honorLabels off, so its pod and
namespace arrive as exported_pod/exported_namespace):
    llama  pod on A (whole GPU), engine 0.9                        busy, 1 device
    qwen   pods on a MIG instance of B (0.004) and on C (0.0)      idle, 2 devices
    (a reranker's instance of B, 0.5, has no vLLM series: nobody's model)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autoscaler.metrics.source import ModelQuery
from scheduler.controller.health import Health, classify_all
from scheduler.controller.settings import HealthSettings
from scheduler.kubernetes.dcgm_feed import DcgmFeed, ModelLoad
from tests.integration.prometheus_server import PrometheusServer, Sample

T0 = 1_700_000_000.0
NOW_S = T0 + 600
NODE = {"Hostname": "gpu-node-a17", "modelName": "NVIDIA H100 80GB HBM3"}
A = {"gpu": "0", "UUID": "GPU-6a3f0c2e-91d4-5b7e-8c1a-2f4d9e7b0a53", **NODE}
B = {"gpu": "1", "UUID": "GPU-d81b47a9-3e02-c6f5-14b8-7a90e2c3f6d1", **NODE}
C = {"gpu": "2", "UUID": "GPU-0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", **NODE}
D = {"gpu": "3", "UUID": "GPU-1d2e3f4a-5b6c-4d7e-9f8a-0b1c2d3e4f5a", **NODE}
B_MIG = [{**B, "GPU_I_PROFILE": "3g.40gb", "GPU_I_ID": i} for i in ("1", "2")]
SERVING = "llm-serving"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QWEN = "Qwen/Qwen2.5-7B-Instruct"
LLAMA_POD = "llama-3-1-8b-instruct-predictor-7c9f6d5b8-x2kqp"
QWEN_PODS = (
    "qwen2-5-7b-instruct-predictor-5d8b9c7f4-q7mzl",
    "qwen2-5-7b-instruct-predictor-5d8b9c7f4-m2xkd",
)
EXPORTER = {"pod": "nvidia-dcgm-exporter-9xq2t", "namespace": "gpu-operator"}
ENGINE = [
    ({**A, "container": "vllm", "namespace": SERVING, "pod": LLAMA_POD}, 0.9),
    ({**B_MIG[1], "container": "vllm", "namespace": SERVING, "pod": QWEN_PODS[0]}, 0.004),
    ({**C, "container": "vllm", **EXPORTER, "exported_namespace": SERVING,
      "exported_pod": QWEN_PODS[1]}, 0.0),
    ({**B_MIG[0], "container": "reranker", "namespace": "search", "pod": "reranker-kq2pw"}, 0.5),
]  # fmt: skip
VLLM_PODS = [(LLAMA, LLAMA_POD), *((QWEN, pod) for pod in QWEN_PODS)]


def samples() -> Iterator[Sample]:
    for step in range(41):
        t = T0 + step * 15.0
        yield Sample("DCGM_FI_DEV_XID_ERRORS", A, 79.0 if step > 30 else 0.0, t)
        for labels in B_MIG:
            yield Sample("DCGM_FI_DEV_XID_ERRORS", labels, 0.0, t)
            yield Sample("DCGM_FI_DEV_THERMAL_VIOLATION", labels, step * 15.0 * 0.8e9, t)
            yield Sample("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", labels, float(0x20), t)
        yield Sample("DCGM_FI_DEV_XID_ERRORS", C, 0.0, t)
        yield Sample("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", C, float(0x4), t)
        yield Sample("DCGM_FI_DEV_POWER_VIOLATION", C, step * 15.0 * 0.1e9, t)
        if t <= NOW_S - 300:
            yield Sample("DCGM_FI_DEV_XID_ERRORS", D, 48.0, t)
        for labels, active in ENGINE:
            yield Sample("DCGM_FI_PROF_GR_ENGINE_ACTIVE", labels, active, t)
        for model, pod in VLLM_PODS:
            vllm = {"model_name": model, "engine": "0", "namespace": SERVING, "pod": pod}
            yield Sample("vllm:kv_cache_usage_perc", vllm, 0.3, t)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    from tests.integration.prometheus_server import PrometheusFactory, require_binary

    factory = PrometheusFactory(
        require_binary("prometheus"), require_binary("promtool"), tmp_path_factory.mktemp("dcgm")
    )
    try:
        yield factory(history=samples())
    finally:
        factory.close()


async def test_the_feed_reads_what_the_classifier_needs(prometheus: PrometheusServer) -> None:
    settings = HealthSettings()
    report = await DcgmFeed(prometheus.url, settings, window_s=60)(NOW_S)
    by_instance = {(s.uuid, s.thermal_violation_fraction is not None) for s in report.samples}
    assert {uuid for uuid, _ in by_instance} == {A["UUID"], B["UUID"], C["UUID"]}  # D is stale
    b = [s for s in report.samples if s.uuid == B["UUID"]]
    assert len(b) == 2  # one per MIG instance, merged by the classifier
    assert all(s.thermal_violation_fraction == pytest.approx(0.8) for s in b)
    (c,) = [s for s in report.samples if s.uuid == C["UUID"]]
    assert (c.xid, c.clocks_event_reasons) == (0, 0x4)
    assert c.power_violation_fraction == pytest.approx(0.1) and c.node == "gpu-node-a17"

    verdicts = classify_all(report.samples, NOW_S, settings)
    assert {u: v.state for u, v in verdicts.items()} == {
        A["UUID"]: Health.UNHEALTHY,
        B["UUID"]: Health.THROTTLED,
        C["UUID"]: Health.HEALTHY,
    }
    assert verdicts[A["UUID"]].reasons == ("XID 79 (GPU fallen off the bus)",)
    assert "SW thermal slowdown" in verdicts[B["UUID"]].reasons


async def test_a_prometheus_that_refuses_makes_the_reading_fail(
    prometheus: PrometheusServer,
) -> None:
    feed = DcgmFeed(prometheus.url + "/nowhere", HealthSettings())
    with pytest.raises(Exception):  # noqa: B017 (the loop catches whatever it is)
        await feed(NOW_S)


async def test_the_feed_reads_each_models_engine_activity_next_to_vllms_requests(
    prometheus: PrometheusServer,
) -> None:
    loads = {
        LLAMA: ModelLoad(ModelQuery(LLAMA, SERVING), 3.0, NOW_S - 10),
        QWEN: ModelLoad(ModelQuery(QWEN, None), 0.0, NOW_S - 10),
        "mistral": ModelLoad(ModelQuery("mistral", None)),  # no pods, no observation yet
    }
    report = await DcgmFeed(prometheus.url, HealthSettings(), models=lambda: loads)(NOW_S)
    llama, qwen, mistral = (report.activity[m] for m in (LLAMA, QWEN, "mistral"))
    assert (llama.devices_reporting, llama.requests, llama.at_s) == (1, 3.0, NOW_S - 10)
    assert llama.engine_active == pytest.approx(0.9)
    assert (qwen.devices_reporting, qwen.requests) == (2, 0.0)  # not the reranker's instance
    assert qwen.engine_active == pytest.approx(0.002)
    assert (mistral.devices_reporting, mistral.engine_active, mistral.requests) == (0, None, None)
    assert mistral.at_s == NOW_S
    # The health reading is the same with the activity read beside it.
    assert {s.uuid for s in report.samples} == {A["UUID"], B["UUID"], C["UUID"]}
