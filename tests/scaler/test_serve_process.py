"""`prewarm serve --demo` as a user runs it: a process that answers KEDA over gRPC from its
gRPC front process, fits the demo model's forecaster in its refit worker, and exits cleanly
on SIGTERM, its helpers with it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc

PRESTART_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> set[int]:
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.add(int(status.parent.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an exited child nobody reaped yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def front_of(pid: int) -> int:
    for child in children(pid):
        with contextlib.suppress(OSError):
            if b"autoscaler.scaler.grpc_front" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
    raise AssertionError(f"no gRPC front process among the children of {pid}")


@pytest.fixture
def demo_server() -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    grpc_port, http_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "prewarm"),
            "serve",
            "--demo",
            "--grpc-port",
            str(grpc_port),
            "--http-port",
            str(http_port),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield process, grpc_port, http_port
    finally:
        if process.poll() is None:  # a failed test: stop it as Kubernetes would, so the
            process.terminate()  # server closes its refit pool and leaves no worker behind
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_ready(http_port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + PRESTART_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "prewarm serve exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("prewarm serve --demo never became ready")


def test_demo_server_fits_in_its_refit_worker_and_stops_cleanly(
    demo_server: tuple[subprocess.Popen[bytes], int, int],
) -> None:
    process, grpc_port, http_port = demo_server
    wait_ready(http_port, process)
    ref = pb.ScaledObjectRef(name="demo", namespace="default", scalerMetadata={"model": "demo"})
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        stub.GetMetricSpec(ref, timeout=3)  # KEDA's first call tracks the ScaledObject
        forecast: dict[str, object] | None = None
        deadline = time.monotonic() + PRESTART_S
        while time.monotonic() < deadline:
            payload = httpx.get(f"http://127.0.0.1:{http_port}/models/demo/history").json()
            forecast = payload.get("forecast")
            if forecast and forecast["method"] == "holt-winters":
                break
            time.sleep(0.5)
        assert forecast is not None and forecast["method"] == "holt-winters", forecast["note"]
        helpers = children(process.pid)
        assert front_of(process.pid) in helpers
        assert len(helpers) >= 2  # the gRPC front and the spawned refit worker
        request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName="replicas")
        reply = stub.GetMetrics(request, timeout=3)
        assert reply.metricValues[0].metricValueFloat >= 1

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    deadline = time.monotonic() + 10
    while any(map(running, helpers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in helpers if running(pid)]


def test_the_grpc_front_exits_when_the_scaler_process_is_killed(
    demo_server: tuple[subprocess.Popen[bytes], int, int],
) -> None:
    process, _, http_port = demo_server
    wait_ready(http_port, process)
    front = front_of(process.pid)
    process.kill()  # no goodbye: the front only sees its pipe close
    process.wait()
    deadline = time.monotonic() + 10
    while running(front) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(front)


def test_every_helper_process_exits_when_the_scaler_process_is_killed(
    demo_server: tuple[subprocess.Popen[bytes], int, int],
) -> None:
    """kill -9 (or the OOM killer) gives the scaler no chance to stop its refit worker: the
    worker must notice by itself, or it holds its ~180 MB until someone kills it."""
    process, grpc_port, http_port = demo_server
    wait_ready(http_port, process)
    ref = pb.ScaledObjectRef(name="demo", namespace="default", scalerMetadata={"model": "demo"})
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        pb_grpc.ExternalScalerStub(channel).GetMetricSpec(ref, timeout=3)  # tracked: refits go

    def refit_workers() -> set[int]:
        found = set()
        for child in children(process.pid):
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                if b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
                    found.add(child)
        return found

    deadline = time.monotonic() + PRESTART_S
    while not refit_workers() and time.monotonic() < deadline:
        time.sleep(0.2)
    helpers = children(process.pid)
    assert refit_workers(), f"no refit worker was spawned among {helpers}"
    process.kill()
    process.wait()
    deadline = time.monotonic() + 15
    while any(map(running, helpers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in helpers if running(pid)}
    assert not left, f"helpers outlived a killed scaler: {left}"
