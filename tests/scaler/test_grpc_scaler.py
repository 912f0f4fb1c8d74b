"""The ExternalScaler over real gRPC on loopback, as KEDA calls it.

The servicer tests run twice: served from the registry's own loop, and from the gRPC front
process (`prewarm serve`'s default), which mirrors the registry's decisions over a pipe.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.grpc_front_process import GrpcFrontProcess
from autoscaler.scaler.prometheus_addresses import PrometheusAddresses
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.scaler.server import RunningServer, TlsFiles, start_grpc
from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc
from tests.fakes import FakeMetricSource, prompt_for_replicas
from tests.scaler.certs import make_pki
from tests.scaler.scaler_helpers import FailingEngine, make_registry, steady, target

METADATA = {"model": "llama", "scalerAddress": "prewarm:9090"}


def ref(metadata: dict[str, str] | None = None) -> pb.ScaledObjectRef:
    return pb.ScaledObjectRef(
        name="chat", namespace="serving", scalerMetadata=METADATA if metadata is None else metadata
    )


@pytest.fixture(params=["in-process", "front-process"])
async def scaler(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[pb_grpc.ExternalScalerStub, FakeMetricSource, object]]:
    source = FakeMetricSource()
    registry, clock = make_registry(source, replicas={"min": 0, "max": 64})
    server = await serve(registry, request.param)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.ExternalScalerStub(channel), source, (registry, clock, server)
    await server.stop(0)


async def serve(registry: ScalerRegistry, mode: str) -> RunningServer | GrpcFrontProcess:
    if mode == "in-process":
        return await start_grpc(registry, "127.0.0.1", 0)
    front = GrpcFrontProcess(registry)
    await front.start("127.0.0.1", 0, None)
    return front


async def published(server: RunningServer | GrpcFrontProcess) -> None:
    """Waits until the front process has what the registry published (in-process: at once)."""
    if isinstance(server, GrpcFrontProcess):
        await server.synced()


async def test_metric_spec_is_static_with_target_one(scaler) -> None:  # type: ignore[no-untyped-def]
    stub, _, _ = scaler
    spec = (await stub.GetMetricSpec(ref(), timeout=3)).metricSpecs
    assert len(spec) == 1
    assert spec[0].metricName == "prewarm-llama"
    assert spec[0].targetSizeFloat == 1.0 and spec[0].targetSize == 1


async def test_stream_metric_spec_sends_the_get_metric_spec_answer_at_once(scaler) -> None:  # type: ignore[no-untyped-def]
    stub, _, _ = scaler
    stream = stub.StreamMetricSpec(ref())
    # KEDA 2.21's rule 1: the current spec as soon as the stream opens, before any decision.
    first = await asyncio.wait_for(stream.read(), timeout=3)
    # Rule 2: GetMetricSpec answers what was streamed last.
    assert first == await stub.GetMetricSpec(ref(), timeout=3)
    assert [s.metricName for s in first.metricSpecs] == ["prewarm-llama"]
    # Nothing else follows while the spec stays the same; the stream stays open.
    second = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0.2)
    assert not second.done()
    stream.cancel()


async def test_get_metrics_returns_one_value_float_and_int(scaler) -> None:  # type: ignore[no-untyped-def]
    stub, source, (registry, _, server) = scaler
    source.latest_by_model["llama"] = steady(prompt_for_replicas(7), ready=7)
    await registry.refresh_once(registry.track(target()))
    await published(server)
    request = pb.GetMetricsRequest(scaledObjectRef=ref(), metricName="prewarm-llama")
    values = (await stub.GetMetrics(request, timeout=3)).metricValues
    assert len(values) == 1
    assert values[0].metricName == "prewarm-llama"
    assert values[0].metricValueFloat == 7.0 and values[0].metricValue == 7
    assert (await stub.IsActive(ref(), timeout=3)).result is True


async def test_before_the_first_decision_the_answer_is_unavailable(scaler) -> None:  # type: ignore[no-untyped-def]
    stub, _, _ = scaler
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref()), timeout=3)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "no decision yet" in (caught.value.details() or "")


@pytest.mark.parametrize(
    ("metadata", "key"),
    [
        ({"model": "llama", "modle": "x"}, "modle"),
        ({}, "model"),
        ({"model": "llama", "profile": "nope"}, "profile"),
    ],
    ids=["unknown-key", "missing-model", "unknown-profile"],
)
async def test_bad_metadata_is_invalid_argument_naming_the_key(scaler, metadata, key) -> None:  # type: ignore[no-untyped-def]
    stub, _, _ = scaler
    for call in (
        lambda: stub.GetMetricSpec(ref(metadata), timeout=3),
        lambda: stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref(metadata)), timeout=3),
        lambda: stub.IsActive(ref(metadata), timeout=3),
        lambda: stub.StreamMetricSpec(ref(metadata), timeout=3).read(),
        lambda: stub.StreamIsActive(ref(metadata), timeout=3).read(),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"'{key}'" in (caught.value.details() or "")


OVERSIZED = [
    ({"model": "llama", "prometheusAddress": "http://[::1"}, "prometheusAddress"),
    ({"model": "llama", "prometheusAddress": "http://prom:99999"}, "prometheusAddress"),
    ({"model": "llama", "profile": "p" * 20_000}, "profile"),
    ({"model": "llama", "profile": "\u00e9" * 5000}, "profile"),
    ({"model": "llama"} | {f"k{i}" * 40: "v" for i in range(500)}, "k0"),
]


@pytest.mark.parametrize(
    ("metadata", "key"),
    OVERSIZED,
    ids=["unparsable-url", "port-out-of-range", "20kB-profile", "unicode", "500-unknown-keys"],
)
async def test_any_bad_metadata_is_a_small_invalid_argument(scaler, metadata, key) -> None:  # type: ignore[no-untyped-def]
    """Not UNKNOWN (an exception outside the metadata errors), nor RESOURCE_EXHAUSTED (a
    status message past gRPC's 16 kB metadata limit)."""
    stub, _, _ = scaler
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMetricSpec(ref(metadata), timeout=3)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details() or ""
    assert f"'{key}" in details and len(details.encode()) < 4096


@pytest.mark.parametrize("mode", ["in-process", "front-process"])
async def test_only_the_prometheus_addresses_the_config_lists_are_used(mode: str) -> None:
    source = FakeMetricSource()
    registry, _ = make_registry(source)
    registry.prometheus_addresses = PrometheusAddresses(
        "http://prom.monitoring:9090", frozenset({"http://other.monitoring:9090"})
    )
    server = await serve(registry, mode)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.ExternalScalerStub(channel)
            for allowed in ("http://prom.monitoring:9090", "http://Other.monitoring:9090/"):
                address = METADATA | {"prometheusAddress": allowed}
                assert (await stub.GetMetricSpec(ref(address), timeout=3)).metricSpecs
            elsewhere = METADATA | {"prometheusAddress": "http://attacker.example:80"}
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetMetricSpec(ref(elsewhere), timeout=3)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            details = caught.value.details() or ""
            assert "'prometheusAddress'" in details and "prometheus.allowed_addresses" in details
        assert [t.target.prometheus_url for t in registry.all()] == [
            "http://prom.monitoring:9090",
            "http://Other.monitoring:9090/",
        ]
    finally:
        await server.stop(0)


async def test_stale_data_turns_unavailable_past_the_bound(scaler) -> None:  # type: ignore[no-untyped-def]
    stub, source, (registry, clock, server) = scaler
    source.latest_by_model["llama"] = steady(prompt_for_replicas(5), ready=5)
    tracked = registry.track(target())
    await registry.refresh_once(tracked)
    source.fresh = False  # the source keeps returning the same, ever older sample
    clock.advance(601)  # default error_after_s is 600
    await registry.refresh_once(tracked)
    await published(server)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref()), timeout=3)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "601 s old" in (caught.value.details() or "")


@pytest.mark.parametrize("mode", ["in-process", "front-process"])
async def test_a_refresh_that_keeps_raising_turns_unavailable_past_the_bound(mode: str) -> None:
    """Decided once, then the engine raises at every decision (a forecaster out of memory):
    the held answer ages, and past error_after_s KEDA gets UNAVAILABLE naming the error."""
    source = FakeMetricSource()
    source.latest_by_model["llama"] = steady(prompt_for_replicas(5), ready=5)
    registry, clock = make_registry(source, staleness={"hold_after_s": 10, "error_after_s": 30})
    failing = {"on": False}

    def fail() -> Exception | None:
        return MemoryError("Unable to allocate 96.0 GiB") if failing["on"] else None

    registry.engine_for = functools.partial(FailingEngine, fail=fail)
    server = await serve(registry, mode)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.ExternalScalerStub(channel)
            request = pb.GetMetricsRequest(scaledObjectRef=ref(), metricName="prewarm-llama")
            tracked = registry.track(target())
            await registry.refresh_once(tracked)
            await published(server)
            assert (await stub.GetMetrics(request, timeout=3)).metricValues[0].metricValue == 5
            failing["on"] = True
            clock.advance(15)  # failing, within the bound: the answer holds
            await registry.refresh_once(tracked)
            await published(server)
            assert (await stub.GetMetrics(request, timeout=3)).metricValues[0].metricValue == 5
            clock.advance(16)  # the answer's data is 31 s old, the bound 30 s
            await registry.refresh_once(tracked)
            await published(server)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetMetrics(request, timeout=3)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            details = caught.value.details() or ""
            assert "MemoryError: Unable to allocate 96.0 GiB" in details
            assert "invalid after 30 s" in details
    finally:
        await server.stop(0)
        await registry.close()


@pytest.mark.parametrize("mode", ["in-process", "front-process"])
async def test_past_the_limit_a_new_scaled_object_is_resource_exhausted(mode: str) -> None:
    """One client creating ScaledObjects without end must not grow the pod past its memory
    limit: past `max_scaled_objects` a new one is refused, naming the limit and the key, and
    counted; the ones tracked are still answered."""
    registry, _ = make_registry(FakeMetricSource())
    registry.max_tracked = 2
    metrics = DecisionMetrics()
    registry.on_refused = (metrics.count_refused,)
    server = await serve(registry, mode)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.ExternalScalerStub(channel)

            def named(name: str) -> pb.ScaledObjectRef:
                return pb.ScaledObjectRef(name=name, namespace="serving", scalerMetadata=METADATA)

            for name in ("a", "b"):
                assert (await stub.GetMetricSpec(named(name), timeout=3)).metricSpecs
            for call in (
                lambda: stub.GetMetricSpec(named("c"), timeout=3),
                lambda: stub.IsActive(named("c"), timeout=3),
                lambda: stub.StreamIsActive(named("c"), timeout=3).read(),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call()
                assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                details = caught.value.details() or ""
                assert "2 ScaledObjects" in details and "'max_scaled_objects'" in details
            assert (await stub.GetMetricSpec(named("a"), timeout=3)).metricSpecs
            await published(server)  # the front's first refusal has reached the back
            refused = metrics.registry.get_sample_value("prewarm_scaled_objects_refused_total")
            assert refused is not None and refused >= 1
            assert sorted(t.target.scaled_object for t in registry.all()) == [
                "serving/a",
                "serving/b",
            ]
    finally:
        await server.stop(0)
        await registry.close()


@pytest.mark.parametrize(
    ("name", "namespace", "field"),
    [("n" * 1_000_000, "serving", "'name'"), ("chat", "s" * 64, "'namespace'")],
    ids=["1MB-name", "64-char-namespace"],
)
async def test_names_past_kubernetes_limits_are_invalid_argument(  # type: ignore[no-untyped-def]
    scaler, name: str, namespace: str, field: str
) -> None:
    stub, _, (registry, _, _) = scaler
    oversized = pb.ScaledObjectRef(name=name, namespace=namespace, scalerMetadata=METADATA)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMetricSpec(oversized, timeout=3)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (caught.value.details() or "")
    assert len(registry) == 0


async def test_stream_pushes_true_when_the_model_becomes_active(scaler) -> None:  # type: ignore[no-untyped-def]
    stub, source, (registry, clock, server) = scaler
    tracked = registry.track(target())
    source.latest_by_model["llama"] = steady(0.0, ready=0)  # scaled to zero, no traffic
    await registry.refresh_once(tracked)
    await published(server)
    assert not tracked.active
    stream = stub.StreamIsActive(ref())
    first = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0.2)  # the stream is open and silent while inactive
    assert not first.done()
    source.latest_by_model["llama"] = replace(steady(0.0, ready=0), requests_waiting=3.0)
    clock.advance(15)
    await registry.refresh_once(tracked)
    message = await asyncio.wait_for(first, timeout=3)
    assert message.result is True
    stream.cancel()


@pytest.mark.parametrize("mode", ["in-process", "front-process"])
async def test_a_stream_ends_when_its_scaled_object_is_dropped(mode: str) -> None:
    source = FakeMetricSource()
    source.latest_by_model["llama"] = steady(0.0, ready=0)
    registry, clock = make_registry(
        source, replicas={"min": 0, "max": 64}, decision_interval_s=0.01
    )
    registry.idle_after_s = 600.0
    registry.start()
    server = await serve(registry, mode)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.ExternalScalerStub(channel)
            stream = stub.StreamIsActive(ref())
            first = asyncio.ensure_future(stream.read())
            for _ in range(500):  # the stream's handler has tracked it (at the clock's now)
                if len(registry):
                    break
                await asyncio.sleep(0.01)
            specs = stub.StreamMetricSpec(ref())
            assert (await asyncio.wait_for(specs.read(), timeout=5)).metricSpecs
            specs_end = asyncio.ensure_future(specs.read())
            await clock.sleeping(1)  # back-filled, decided, parked until its phase
            assert all(t.decision is not None for t in registry.all())
            await published(server)
            assert not first.done()  # tracked, decided, inactive: the stream is silent
            clock.advance(601)  # KEDA stopped asking: the refresher drops it as idle
            # The stream would otherwise wait on the dropped cell for ever: a re-tracked
            # ScaledObject is a new cell. It ends, and KEDA opens a new one after its retry.
            assert await asyncio.wait_for(first, timeout=5) is grpc.aio.EOF
            assert await stream.code() == grpc.StatusCode.OK
            assert await asyncio.wait_for(specs_end, timeout=5) is grpc.aio.EOF
            assert await specs.code() == grpc.StatusCode.OK
            assert len(registry) == 0
            source.latest_by_model["llama"] = replace(steady(0.0, ready=0), requests_waiting=3.0)
            again = stub.StreamIsActive(ref())
            assert (await asyncio.wait_for(again.read(), timeout=5)).result is True
            again.cancel()
    finally:
        await server.stop(0)
        await registry.close()


async def test_health_service_reports_serving(scaler) -> None:  # type: ignore[no-untyped-def]
    _, _, (_, _, server) = scaler
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "externalscaler.ExternalScaler"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=3)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def _spec_over(channel: grpc.aio.Channel) -> str:
    stub = pb_grpc.ExternalScalerStub(channel)
    return (await stub.GetMetricSpec(ref(), timeout=3)).metricSpecs[0].metricName


async def test_tls_and_mutual_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    registry, _ = make_registry(FakeMetricSource())
    ca = pki.ca_cert.read_bytes()
    client_cert, client_key = pki.client_cert.read_bytes(), pki.client_key.read_bytes()

    tls = await start_grpc(registry, "127.0.0.1", 0, TlsFiles(pki.server_cert, pki.server_key))
    try:
        creds = grpc.ssl_channel_credentials(root_certificates=ca)
        async with grpc.aio.secure_channel(f"localhost:{tls.port}", creds) as channel:
            assert await _spec_over(channel) == "prewarm-llama"
    finally:
        await tls.stop(0)

    mtls_files = TlsFiles(pki.server_cert, pki.server_key, client_ca_file=pki.ca_cert)
    mtls = await start_grpc(registry, "127.0.0.1", 0, mtls_files)
    try:
        with_cert = grpc.ssl_channel_credentials(ca, client_key, client_cert)
        async with grpc.aio.secure_channel(f"localhost:{mtls.port}", with_cert) as channel:
            assert await _spec_over(channel) == "prewarm-llama"
        without_cert = grpc.ssl_channel_credentials(root_certificates=ca)
        async with grpc.aio.secure_channel(f"localhost:{mtls.port}", without_cert) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _spec_over(channel)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await mtls.stop(0)


def test_unreadable_tls_file_names_it(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path / "missing.pem", tmp_path / "key.pem")
    with pytest.raises(ValueError, match="missing.pem"):
        files.credentials()


async def test_rotated_certificate_is_served_without_restart(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old, new = make_pki(tmp_path / "old"), make_pki(tmp_path / "new")
    registry, _ = make_registry(FakeMetricSource())
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(old.server_cert.read_bytes())
    key.write_bytes(old.server_key.read_bytes())
    server = await start_grpc(registry, "127.0.0.1", 0, TlsFiles(cert, key))

    async def spec_trusting(ca: Path) -> str:
        creds = grpc.ssl_channel_credentials(root_certificates=ca.read_bytes())
        async with grpc.aio.secure_channel(f"localhost:{server.port}", creds) as channel:
            return await _spec_over(channel)

    try:
        assert await spec_trusting(old.ca_cert) == "prewarm-llama"
        # cert-manager renews: new pair written in place (with a new mtime).
        cert.write_bytes(new.server_cert.read_bytes())
        key.write_bytes(new.server_key.read_bytes())
        os.utime(cert, ns=(10**18, 10**18))
        assert await spec_trusting(new.ca_cert) == "prewarm-llama"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await spec_trusting(old.ca_cert)  # the old chain is no longer presented
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        # A broken renewal (key gone) keeps the pair in force.
        key.unlink()
        os.utime(cert, ns=(2 * 10**18, 2 * 10**18))
        assert await spec_trusting(new.ca_cert) == "prewarm-llama"
    finally:
        await server.stop(0)
