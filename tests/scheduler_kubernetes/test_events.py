"""Events on the workload, written to the in-process API server (which checks them against
the core/v1 Event schema): a repeat is folded into one Event with a count, an expired one is
written anew, and a refused write is logged, never raised."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from autoscaler.clock import ManualClock
from scheduler.kubernetes.events import EventRecorder, InvolvedObject
from tests.kube_api_server import ApiServer, serve_api
from tests.kube_api_server import resources as served

STS = InvolvedObject("apps/v1", "StatefulSet", "llm", "vllm-llama-3-1-8b-mig", "uid-1")


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    async with serve_api() as api_server:
        yield api_server


def events(server: ApiServer) -> list[dict[str, object]]:
    return server.store.list(served.EVENTS, "llm", lambda _: True)


async def test_a_repeat_is_one_event_with_a_count(server: ApiServer) -> None:
    clock = ManualClock(1_765_000_000.0)
    async with server.client() as api:
        recorder = EventRecorder(api, clock, instance="prewarm-0")
        first = await recorder.record(STS, "Normal", "Placed", "3 replicas on 2 GPUs")
        clock.advance(30)
        again = await recorder.record(STS, "Normal", "Placed", "3 replicas on 2 GPUs")
        other = await recorder.record(STS, "Warning", "Unplaced", "1 replica: no H100 free")
    assert first and again and other
    assert again["metadata"]["name"] == first["metadata"]["name"]
    assert again["count"] == 2
    assert (again["firstTimestamp"], again["lastTimestamp"]) == (
        "2025-12-06T05:46:40Z",
        "2025-12-06T05:47:10Z",
    )
    assert len(events(server)) == 2
    assert first["involvedObject"]["uid"] == "uid-1"
    assert first["metadata"]["name"].startswith("vllm-llama-3-1-8b-mig.")


async def test_an_expired_event_is_written_anew_and_a_refusal_is_not_raised(
    server: ApiServer,
) -> None:
    async with server.client() as api:
        recorder = EventRecorder(api, ManualClock(1_765_000_000.0), instance="prewarm-0")
        first = await recorder.record(STS, "Normal", "Placed", "x" * 5000)
        assert first is not None and len(first["message"]) == 1024
        server.store.delete(served.EVENTS, "llm", first["metadata"]["name"])  # the 1 h TTL
        second = await recorder.record(STS, "Normal", "Placed", "x" * 5000)
        assert second is not None and second["count"] == 1
        assert second["metadata"]["name"] != first["metadata"]["name"]
        server.faults.inject(500, times=1, method="POST")
        assert await recorder.record(STS, "Warning", "Unplaced", "y") is None
