"""Two real `prewarm serve` processes against one real Prometheus give KEDA one answer.

KEDA's connection lands on either replica, so a client alternates between them, as KEDA
would across reconnects, and records every GetMetrics answer. The replicas exchange their
decisions (`peers` in the serve config) and both answer the decision of whichever tracked
the ScaledObject longest (autoscaler/scaler/peers/agreement.py). The senior replica is
then restarted mid-run: it comes back junior and answers the other's decisions from its
first call. Demand moves all along (a bursty trace replayed 300x faster), so the answers
change and a replica that decided alone would be seen to disagree.

Real time is unavoidable (Prometheus scrapes on wall time): decisions every 2 s.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import yaml

from autoscaler.clock import SystemClock
from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc
from simulations.emulator import EmulatedFleet, EmulatorServer
from simulations.traces.synthetic import synthetic_trace
from tests.fakes import make_profile, profile_data
from tests.integration.prometheus_server import PrometheusFactory, free_port

MODEL = "llama"
DECISION_INTERVAL_S = 2.0
PROFILE = profile_data(
    model=MODEL,
    decision_interval_s=DECISION_INTERVAL_S,
    cold_start_s=20.0,
    staleness={"hold_after_s": 6.0, "error_after_s": 12.0},
    scaling={"scale_down_delay_s": 20.0},
    replicas={"min": 1, "max": 200},
    forecast={"kind": "last-value", "bucket_s": 2.0, "history_s": 600.0},
)
REF = pb.ScaledObjectRef(
    name="chat", namespace="serving", scalerMetadata={"model": MODEL, "namespace": ""}
)


class Replica:
    """One `prewarm serve --config` process, restartable on the same ports."""

    def __init__(self, name: str, config_path: Path, grpc_port: int, http_port: int) -> None:
        self.name, self.config_path = name, config_path
        self.grpc_port, self.http_port = grpc_port, http_port
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = config_path.with_suffix(".log")

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "prewarm"), "serve", "--config",
             str(self.config_path)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    async def ready(self) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.process is not None and self.process.poll() is None, self.tail()
                try:
                    reply = await client.get(f"http://127.0.0.1:{self.http_port}/readyz")
                    if reply.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"replica {self.name} never became ready:\n{self.tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""


def write_configs(tmp_path: Path, prometheus_url: str) -> list[Replica]:
    make_profile(**{k: v for k, v in PROFILE.items()})  # the profile is valid
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(PROFILE))
    ports = [(free_port(), free_port()) for _ in range(2)]
    replicas = []
    for name, (grpc_port, http_port) in zip("ab", ports, strict=True):
        config = {
            "grpc": {"host": "127.0.0.1", "port": grpc_port},
            "http": {"host": "127.0.0.1", "port": http_port},
            "prometheus": {"url": prometheus_url, "rate_window_s": 4.0, "timeout_s": 1.0},
            "refits": {"workers": 0},
            "profiles": {"default": "profile.yaml"},
            "profiles_watch_s": 0,
            "peers": {
                "urls": [f"http://127.0.0.1:{http}" for _, http in ports],
                "every_s": 0.5,
                "instance": name,
            },
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        replicas.append(Replica(name, path, grpc_port, http_port))
    return replicas


Answer = tuple[float, str, int | None]  # (monotonic s, replica, replicas or None on error)


async def alternate(stubs: dict[str, pb_grpc.ExternalScalerStub], seconds: float) -> list[Answer]:
    """Asks each replica in turn every 0.1 s, as KEDA would across reconnects."""
    answers: list[Answer] = []
    request = pb.GetMetricsRequest(scaledObjectRef=REF, metricName="prewarm-llama")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for name, stub in stubs.items():
            try:
                reply = await stub.GetMetrics(request, timeout=1)
                answers.append((time.monotonic(), name, int(reply.metricValues[0].metricValue)))
            except grpc.aio.AioRpcError:
                answers.append((time.monotonic(), name, None))
            await asyncio.sleep(0.1)
    return answers


def longest_disagreement_s(answers: list[Answer]) -> float:
    """How long the two replicas' latest answers stayed different, at the longest."""
    latest: dict[str, int] = {}
    since: float | None = None
    longest = 0.0
    for t, name, value in answers:
        if value is None:
            continue
        latest[name] = value
        if len(latest) == 2 and len(set(latest.values())) == 2:
            since = t if since is None else since
            longest = max(longest, t - since)
        else:
            since = None
    return longest


async def test_two_replicas_answer_alike_across_a_restart(
    prometheus_factory: PrometheusFactory, tmp_path: Path
) -> None:
    trace = synthetic_trace(
        duration_s=2 * 86400, mean_rps=0.1, burst_rate_per_day=48, burst_duration_s=900, seed=7
    )
    fleet = EmulatedFleet(
        trace, make_profile(**PROFILE), model_name=MODEL, clock=SystemClock(), speed=300.0
    )
    emulator = EmulatorServer(fleet).start()
    prometheus = prometheus_factory(targets=[f"127.0.0.1:{emulator.port}"], scrape_interval_s=1)
    a, b = write_configs(tmp_path, prometheus.url)
    try:
        a.start()
        await a.ready()
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{a.grpc_port}") as channel_a,
            grpc.aio.insecure_channel(f"127.0.0.1:{b.grpc_port}") as channel_b,
        ):
            stubs = {"a": pb_grpc.ExternalScalerStub(channel_a)}
            # KEDA finds replica a alone first: a tracks the ScaledObject, and holds its
            # peaks for the scale-down delay, before b exists.
            first = await alternate(stubs, 10.0)
            assert [v for _, _, v in first if v is not None], a.tail()
            b.start()
            await b.ready()
            stubs["b"] = pb_grpc.ExternalScalerStub(channel_b)
            both = await alternate(stubs, 20.0)

            a.stop()  # the senior goes away, and comes back junior
            a_down = await alternate({"b": stubs["b"]}, 4.0)
            a.start()
            await a.ready()
            after = await alternate(stubs, 20.0)

        for phase, answers in (("both up", both), ("after a's restart", after)):
            ok = {name: [v for _, n, v in answers if n == name and v is not None] for name in "ab"}
            assert ok["a"] and ok["b"], (phase, answers, a.tail(), b.tail())
            longest = longest_disagreement_s(answers)
            assert longest <= DECISION_INTERVAL_S, (phase, longest, answers)
        assert [v for _, _, v in a_down if v is not None], "b answers alone while a is away"
        # Back and junior, a answers b's decision from its first call: it heard b before
        # serving, and its gRPC front waits for that first decision instead of UNAVAILABLE.
        assert [v for _, n, v in after if n == "a"][0] is not None, after[:4]
        seen = {v for _, _, v in both + after if v is not None}
        assert len(seen) >= 2, f"demand never moved the answer ({seen}): the test shows nothing"
    finally:
        a.stop()
        b.stop()
        emulator.stop()
