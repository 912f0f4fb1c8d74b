"""Random ScaledObject names, namespaces and metadata through real gRPC on loopback, against
a scaler that may track only a few ScaledObjects.

Every answer is OK, INVALID_ARGUMENT (a name past Kubernetes' limits names its field) or
RESOURCE_EXHAUSTED naming `max_scaled_objects`: never UNKNOWN or INTERNAL (an exception the
checks missed), and the scaler never tracks more than its limit, in one process or behind
the gRPC front process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.scaler.grpc_front_process import GrpcFrontProcess
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.scaler.server import RunningServer, start_grpc
from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc
from tests.fakes import FakeMetricSource
from tests.fuzz.loop_thread import LoopThread
from tests.scaler.scaler_helpers import make_registry

LIMIT = 5  # reached within a few examples, so refusals are exercised too
OK_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}


def repeated(char: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: char * n)


# Around Kubernetes' limits (253 for a name, 63 for a namespace), far past them, and anything.
names = (
    st.text("abc-.", min_size=1, max_size=12)
    | repeated("n", 250, 256)
    | repeated("x", 1_000, 200_000)
    | st.text(max_size=80)
)
namespaces = st.sampled_from(["serving", ""]) | repeated("s", 60, 66) | st.text(max_size=80)
metadata_maps = st.fixed_dictionaries(
    {"model": st.text("abcxyz/-.", min_size=1, max_size=20) | st.text(max_size=40)},
    optional={
        "namespace": namespaces,
        "profile": st.sampled_from(["default", "missing"]) | st.text(max_size=70),
        "prometheusAddress": st.sampled_from(["http://prom:9090", "ftp://x", ""]),
        "scalerAddress": st.just("prewarm:9090"),
        "unknownKey": st.text(max_size=20),
    },
)


async def _serving(mode: str) -> AsyncIterator[tuple[ScalerRegistry, int]]:
    registry, _ = make_registry(FakeMetricSource())
    registry.max_tracked = LIMIT
    server: RunningServer | GrpcFrontProcess
    if mode == "in-process":
        server = await start_grpc(registry, "127.0.0.1", 0)
    else:
        server = GrpcFrontProcess(registry)
        await server.start("127.0.0.1", 0, None)
    try:
        yield registry, server.port
    finally:
        await server.stop(0)
        await registry.close()


@pytest.fixture(scope="module", params=["in-process", "front-process"])
def scaler(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[pb_grpc.ExternalScalerStub, ScalerRegistry]]:
    serving = LoopThread(_serving(request.param))
    registry, port = serving.value
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield pb_grpc.ExternalScalerStub(channel), registry
    finally:
        serving.close()


@settings(max_examples=50, deadline=None)
@given(names, namespaces, metadata_maps)
def test_every_answer_is_ok_invalid_argument_or_resource_exhausted(
    scaler: tuple[pb_grpc.ExternalScalerStub, ScalerRegistry],
    name: str,
    namespace: str,
    metadata: dict[str, str],
) -> None:
    stub, registry = scaler
    ref = pb.ScaledObjectRef(name=name, namespace=namespace, scalerMetadata=metadata)
    try:
        stub.GetMetricSpec(ref, timeout=10)
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""  # type: ignore[attr-defined]
        assert code in OK_CODES, (code, details[:300])
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:  # ours, not an oversized trailer
            assert f"{LIMIT} ScaledObjects" in details and "'max_scaled_objects'" in details
        elif len(name) > 253:
            assert "'name'" in details
        elif len(namespace) > 63:
            assert "'namespace'" in details
    assert len(registry) <= LIMIT
