"""Random trigger metadata, straight into the parser and through real gRPC on loopback.

Whatever KEDA forwards (random keys, huge values, any Unicode, malformed URLs), the answer is
OK or INVALID_ARGUMENT with a small message: never UNKNOWN (an exception the metadata errors
missed), INTERNAL, or RESOURCE_EXHAUSTED (a status message past gRPC's 16 kB trailer limit).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.scaler.grpc_front_process import GrpcFrontProcess
from autoscaler.scaler.metadata import KEDA_KEYS, OUR_KEYS, MetadataError, parse_metadata
from autoscaler.scaler.prometheus_addresses import PrometheusAddresses
from autoscaler.scaler.server import start_grpc
from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc
from tests.fakes import FakeMetricSource
from tests.scaler.scaler_helpers import make_registry

MAX_DETAILS_BYTES = 4096
ALLOWED = "http://prom.monitoring:9090"
KNOWN_KEYS = sorted(OUR_KEYS | KEDA_KEYS | {k + "FromEnv" for k in OUR_KEYS})

huge = st.builds(lambda ch, n: ch * n, st.characters(), st.integers(1_000, 30_000))
text = st.text(max_size=80) | huge
urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
    st.sampled_from(["http://", "https://", "ftp://", "", "http:/", "HTTP://"]),
    st.sampled_from(["prom.monitoring", "[::1", "[::1]", "[zz]", "", "10.0.0.1", "a b"])
    | st.text(max_size=20),
    st.sampled_from(["", ":9090", ":0", ":99999", ":", ":x", ":65535"])
    | st.integers(-10, 10**6).map(lambda p: f":{p}"),
    st.sampled_from(["", "/", "/prefix/", "?q=1", "#f", "/\u00e9"]) | st.text(max_size=10),
)
values = text | urls | st.just(ALLOWED)
metadata_maps = st.dictionaries(st.sampled_from(KNOWN_KEYS) | text, values, max_size=30)
names = st.sampled_from(["chat", "serving"]) | text


@settings(max_examples=100, deadline=None)
@given(names, names, metadata_maps)
def test_the_parser_answers_a_target_or_a_small_metadata_error(
    name: str, namespace: str, metadata: dict[str, str]
) -> None:
    try:
        target = parse_metadata(name, namespace, metadata)
    except MetadataError as exc:
        message = str(exc)
        assert message.isascii() and len(message) < MAX_DETAILS_BYTES
        assert exc.problems
        return
    try:  # what whatever answers KEDA checks next
        PrometheusAddresses(ALLOWED).check(target.prometheus_url)
    except MetadataError as exc:
        assert len(str(exc)) < MAX_DETAILS_BYTES


class _Scaler:
    """A scaler serving gRPC from an event loop in a thread of its own, so the sync
    hypothesis test below can call it with a plain blocking client."""

    def __init__(self, mode: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        registry, _ = make_registry(FakeMetricSource())
        registry.prometheus_addresses = PrometheusAddresses(ALLOWED)
        self.registry = registry
        self.server: Any = self._run(self._start(mode))

    async def _start(self, mode: str) -> Any:
        if mode == "in-process":
            return await start_grpc(self.registry, "127.0.0.1", 0)
        front = GrpcFrontProcess(self.registry)
        await front.start("127.0.0.1", 0, None)
        return front

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=90)

    def close(self) -> None:
        self._run(self.server.stop(0))
        self._run(self.registry.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module", params=["in-process", "front-process"])
def stub(request: pytest.FixtureRequest) -> Iterator[pb_grpc.ExternalScalerStub]:
    scaler = _Scaler(request.param)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{scaler.server.port}") as channel:
            yield pb_grpc.ExternalScalerStub(channel)
    finally:
        scaler.close()


@settings(max_examples=60, deadline=None)
@given(names, names, metadata_maps)
def test_grpc_answers_ok_or_a_small_invalid_argument(
    stub: pb_grpc.ExternalScalerStub, name: str, namespace: str, metadata: dict[str, str]
) -> None:
    ref = pb.ScaledObjectRef(name=name, namespace=namespace, scalerMetadata=metadata)
    try:
        stub.GetMetricSpec(ref, timeout=10)
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""  # type: ignore[attr-defined]
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details[:300])
        assert len(details.encode()) < MAX_DETAILS_BYTES
