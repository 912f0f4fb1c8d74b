"""Benchmark: 1,000 ScaledObjects polled the way KEDA does, plus 1,000 open push streams.

Goal (issue 3): GetMetrics p99 <= 5 ms, no errors, scaler RSS <= 300 MB. The scaler runs as
its own process (benchmarks/scaler_server.py: the real app and registry, one distinct model
per ScaledObject, a synthetic source) with its gRPC front process, as `prewarm serve` runs;
CPU and RSS are printed for both (the RSS goal counts the two together; the refit worker is
printed apart). This process plays KEDA over loopback gRPC:
a polling loop (30 s) and an HPA loop (15 s, 3 s deadline) per ScaledObject, started at
seeded random offsets, and one StreamIsActive each. The streams open once every model has
back-filled its history and forecasts from parameters its refit worker fitted; the loops
start once the scaler has re-frozen its heap after that: the steady state, where every
decision runs a real forecast and every window is full.

    .venv/bin/python benchmarks/scaler_load.py [--scaled-objects 1000] [--duration-s 60]
        [--client-processes 1] [--history-h 72] [--probe] [--floor] [--client python|go]

Before the run an idle event loop is timed alone: on a virtual machine whose host is busy,
that baseline (and the CPU steal printed for the run) says how much of the tail is the
machine's. `--probe` adds event-loop lag and gc pauses during the load, of the Python
client and of the scaler's main process (which decides; the front answers).
`--floor` then runs the same load against servers that answer constants: grpc.aio as the
scaler runs it (benchmarks/floor_scaler.py) and, with `--client go`, grpc-go. What they
show is the framework's and the machine's part of the p99.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from keda_go_client import built_binary, play_keda_in_go
from stall_probe import (  # benchmarks/ is on the path when run as a script
    StallProbe,
    cpu_steal_fraction,
    cpu_times,
    idle_loop_lag,
)

from autoscaler.scaler.heap_settling import SettlingWatch
from external_scaler_proto import externalscaler_pb2 as pb
from simulations.keda.client import CallLog, KedaLikeClient, percentile_ms

SERVER = Path(__file__).resolve().parent / "scaler_server.py"
FLOOR_SERVER = Path(__file__).resolve().parent / "floor_scaler.py"
SETTLED_FREEZE_S = SettlingWatch().quiet_s + 15.0  # + its check interval, and some slack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (a host's steal is not counted)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    pids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # gone since listed
            pids += [int(child) for child in (task / "children").read_text().split()]
    return pids


def listening_pid(port: int, pids: list[int]) -> int | None:
    """Which of `pids` listens on TCP `port` (the scaler's gRPC front process), if any."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return pid
    return None


def refs(n: int) -> list[pb.ScaledObjectRef]:
    return [
        pb.ScaledObjectRef(
            name=f"so-{i:04d}",
            namespace="bench",
            scalerMetadata={"model": f"model-{i:04d}", "scalerAddress": "prewarm:9090"},
        )
        for i in range(n)
    ]


WAITING_FOR_FIT = "waits for its first fit"  # in a decision's reason, until the pool fitted it


async def wait_ready(http_port: int, n: int, fitted: bool, timeout_s: float = 900.0) -> float:
    """Until every ScaledObject has a decision and, with `fitted`, forecasts from fitted
    parameters (the steady state after a restart). Returns the seconds it took."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() < started + timeout_s:
            try:
                models = (await client.get(f"http://127.0.0.1:{http_port}/models")).json()
                if len(models) >= n and all(
                    m["replicas"] is not None and not (fitted and WAITING_FOR_FIT in m["reason"])
                    for m in models
                ):
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(2.0)
    raise TimeoutError("the scaler did not decide (from fitted forecasts) in time")


async def play_keda(
    port: int,
    first: int,
    count: int,
    duration_s: float,
    seed: int,
    streams: bool,
    probe: bool,
    streams_ahead_s: float,
) -> tuple[CallLog, str]:
    """One client process's share: ScaledObjects first .. first+count-1. A push stream each
    opens at once, as KEDA opens them when a ScaledObject appears; `streams_ahead_s` later
    both loops each start, at seeded random offsets, for `duration_s`. Returns the calls and,
    with `probe`, this client's stalls during the loops."""
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    client = KedaLikeClient(channel)
    stop = asyncio.Event()
    rng = random.Random(seed + first)
    stalls = StallProbe()

    async def staggered(coro_factory, offset_s: float):  # type: ignore[no-untyped-def]
        await asyncio.sleep(offset_s)
        await coro_factory()

    mine = refs(first + count)[first:]
    tasks = []
    if streams:
        tasks += [asyncio.create_task(client.push_stream(r, stop)) for r in mine]
    await asyncio.sleep(streams_ahead_s)
    if probe:
        stalls.time_collections()
        tasks.append(asyncio.create_task(stalls.watch_loop(stop)))
    for r in mine:
        tasks.append(
            asyncio.create_task(
                staggered(lambda r=r: client.polling_loop(r, 30.0, stop), rng.uniform(0, 30))
            )
        )
        tasks.append(
            asyncio.create_task(
                staggered(lambda r=r: client.hpa_loop(r, 15.0, stop), rng.uniform(0, 15))
            )
        )
    await asyncio.sleep(duration_s)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await channel.close()
    return client.log, stalls.summary(f"client {first}-{first + count - 1}") if probe else ""


def _client_process(
    args: tuple[int, int, int, float, int, bool, bool, float],
) -> tuple[CallLog, str]:
    # KEDA is Go, whose collector runs concurrently; a Python load generator's own full
    # collections (20-50 ms with 18,000 logged calls) would be counted as scaler latency.
    # One run's cyclic garbage is small, so the generator simply goes without collecting.
    gc.disable()
    return asyncio.run(play_keda(*args))


@dataclass(frozen=True)
class ServerUsage:
    """The server's resources over the measured load: its main process, its gRPC front
    process (when it answers from one) and its other children (refit worker, resource
    tracker)."""

    cpu_s: float
    front_cpu_s: float
    rss_before_mib: float
    peak_rss_mib: float
    peak_front_rss_mib: float
    peak_children_rss_mib: float
    steal: float


async def play_keda_in_processes(
    grpc_port: int,
    n: int,
    duration_s: float,
    seed: int,
    streams: bool,
    client_processes: int,
    probe: bool,
    streams_ahead_s: float,
    server: subprocess.Popen[bytes],
    go_client: Path | None = None,
) -> tuple[CallLog, list[str], ServerUsage]:
    """Plays KEDA for `n` ScaledObjects against the server on `grpc_port`: streams open at
    once, both loops start `streams_ahead_s` later and run `duration_s`. Returns every call,
    each client's stall summary (with `probe`, Python clients only) and the server's
    resources during the loops. With `go_client`, that binary plays KEDA instead."""
    # KEDA is one Go process; one Python client process cannot issue 300 calls/s plus
    # hold 1,000 streams without its own event-loop stalls showing up as latency, so
    # the calls can be spread over several processes (each measures its own calls).
    shares = [n // client_processes + (i < n % client_processes) for i in range(client_processes)]
    firsts = [sum(shares[:i]) for i in range(client_processes)]
    jobs = [
        (grpc_port, first, share, duration_s, seed, streams, probe, streams_ahead_s)
        for first, share in zip(firsts, shares, strict=True)
    ]
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(client_processes, mp_context=context) as pool:
        futures: list[asyncio.Future[tuple[CallLog, str]]]
        if go_client is None:
            futures = [loop.run_in_executor(pool, _client_process, job) for job in jobs]
        else:
            futures = [asyncio.ensure_future(_go_client_process(go_client, job)) for job in jobs]
        await asyncio.sleep(streams_ahead_s)
        if probe:
            server.send_signal(signal.SIGUSR1)  # the server's probe starts afresh
        children = child_pids(server.pid)
        front = listening_pid(grpc_port, children)  # None: the server answers itself
        others = [pid for pid in children if pid != front]
        rss_before = rss_mib(server.pid)
        cpu_before = cpu_times()
        server_cpu_before_s = cpu_s(server.pid)
        front_cpu_before_s = cpu_s(front) if front else 0.0
        peak_rss = rss_before
        peak_front_rss = peak_children_rss = 0.0
        while not all(f.done() for f in futures):
            await asyncio.sleep(1.0)
            peak_rss = max(peak_rss, rss_mib(server.pid))
            peak_front_rss = max(peak_front_rss, rss_mib(front) if front else 0.0)
            peak_children_rss = max(peak_children_rss, sum(map(rss_mib, others)))
        results = [f.result() for f in futures]
    usage = ServerUsage(
        cpu_s=cpu_s(server.pid) - server_cpu_before_s,
        front_cpu_s=cpu_s(front) - front_cpu_before_s if front else 0.0,
        rss_before_mib=rss_before,
        peak_rss_mib=peak_rss,
        peak_front_rss_mib=peak_front_rss,
        peak_children_rss_mib=peak_children_rss,
        steal=cpu_steal_fraction(cpu_before, cpu_times()),
    )
    log = CallLog()
    for part, _ in results:
        for method, samples in part.latencies_s.items():
            log.latencies_s.setdefault(method, []).extend(samples)
        log.codes.update(part.codes)
        log.errors.extend(part.errors)
    return log, [stalls for _, stalls in results], usage


def start_server(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=30)


def print_latencies(log: CallLog) -> None:
    for method in ("GetMetricSpec", "GetMetrics", "IsActive"):
        samples = log.latencies_s.get(method, [])
        print(
            f"  {method:14s} n={len(samples):6,d}  p50 {percentile_ms(samples, 0.5):6.2f} ms"
            f"  p99 {percentile_ms(samples, 0.99):6.2f} ms"
        )


async def _go_client_process(
    binary: Path, job: tuple[int, int, int, float, int, bool, bool, float]
) -> tuple[CallLog, str]:
    """The Go client's share of a job (as `_client_process` takes it); it has no probe."""
    port, first, count, duration_s, seed, streams, _probe, streams_ahead_s = job
    log = await play_keda_in_go(
        binary, port, first, count, duration_s, seed, streams, streams_ahead_s
    )
    return log, ""


async def run(
    n: int,
    duration_s: float,
    seed: int,
    streams: bool = True,
    client_processes: int = 1,
    probe_dir: Path | None = None,
    baseline_s: float = 10.0,
    history_h: float = 72.0,
    floor: bool = False,
    go_client: Path | None = None,
) -> None:
    baseline = await idle_loop_lag(baseline_s) if baseline_s > 0 else ""
    grpc_port, http_port = free_port(), free_port()
    probe_out = ["--probe-out", str(probe_dir / "scaler.txt")] if probe_dir else []
    server = start_server(
        [
            sys.executable,
            str(SERVER),
            str(grpc_port),
            str(http_port),
            f"--history-h={history_h}",
            *probe_out,
        ]
    )
    try:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
        await asyncio.wait_for(channel.channel_ready(), timeout=60)
        warm = KedaLikeClient(channel, CallLog())
        await asyncio.gather(*(warm._call("GetMetricSpec", r, 10) for r in refs(n)))
        await channel.close()
        warm_up_s = await wait_ready(http_port, n, fitted=history_h > 0)
        # The streams open now. The scaler re-freezes its heap once its ScaledObjects and
        # fits have held still for 120 s (the last fits landed by now); the loops start
        # after that, so the scaler is measured as it runs after minutes.
        log, stalls, usage = await play_keda_in_processes(
            grpc_port,
            n,
            duration_s,
            seed,
            streams,
            client_processes,
            probe_dir is not None,
            SETTLED_FREEZE_S,
            server,
            go_client,
        )
    finally:
        stop_server(server)

    calls = sum(log.codes.values())
    print(
        f"scaled objects: {n}, duration {duration_s:.0f} s, push streams: {n if streams else 0}, "
        f"KEDA side: {client_processes} {'Go (grpc-go)' if go_client else 'Python (grpcio)'}"
        f" client process(es); {history_h:g} h of history back-filled per "
        f"model, {warm_up_s:.0f} s until every model decided"
        + (" from fitted forecasts" if history_h > 0 else "")
    )
    print(f"calls: {calls:,} ({calls / duration_s:,.0f}/s), errors: {log.error_count()}")
    print_latencies(log)
    get_metrics = log.latencies_s.get("GetMetrics", [])
    print(f"GetMetrics p99: {percentile_ms(get_metrics, 0.99):.2f} ms (goal <= 5 ms)")
    both_cpu_s = usage.cpu_s + usage.front_cpu_s
    print(
        f"scaler CPU: {both_cpu_s / duration_s:.0%} of a core, "
        f"{both_cpu_s / max(calls, 1) * 1000:.2f} ms per call (decisions included); "
        f"of that, its gRPC front process {usage.front_cpu_s / duration_s:.0%} of a core"
    )
    print(
        f"scaler RSS: main process {usage.rss_before_mib:.0f} MiB after warm-up, peak "
        f"{usage.peak_rss_mib:.0f} MiB, gRPC front process peak "
        f"{usage.peak_front_rss_mib:.0f} MiB, together "
        f"{(usage.peak_rss_mib + usage.peak_front_rss_mib) * 1.048576:.0f} MB (goal <= 300 MB); "
        "refit worker and "
        f"resource tracker peak {usage.peak_children_rss_mib:.0f} MiB"
    )
    if log.errors:
        print("first errors:", log.errors[:3])
    print(f"machine: CPU steal {usage.steal:.0%} during the run; before it, {baseline}")
    if probe_dir is not None:
        print("\n".join(stalls))
        print((probe_dir / "scaler.txt").read_text())
    if floor:
        await run_floor(n, duration_s, seed, streams, client_processes, go_client)


async def run_floor(
    n: int,
    duration_s: float,
    seed: int,
    streams: bool,
    client_processes: int,
    go_client: Path | None,
) -> None:
    """The same KEDA side against servers that answer constants: grpc.aio as the scaler runs
    it (floor_scaler.py) and, with the Go client built, grpc-go (`keda-go serve-constants`)."""
    floors = [
        ("grpc.aio on uvloop, benchmarks/floor_scaler.py", [sys.executable, str(FLOOR_SERVER)])
    ]
    if go_client is not None:
        floors.append(("grpc-go, keda-go serve-constants", [str(go_client), "serve-constants"]))
    for name, argv in floors:
        grpc_port = free_port()
        address = (
            [str(grpc_port)] if argv[0] == sys.executable else [f"-addr=127.0.0.1:{grpc_port}"]
        )
        server = start_server([*argv, *address])
        try:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
            await asyncio.wait_for(channel.channel_ready(), timeout=60)
            await channel.close()
            log, _, usage = await play_keda_in_processes(
                grpc_port,
                n,
                duration_s,
                seed,
                streams,
                client_processes,
                False,
                15.0,
                server,
                go_client,
            )
        finally:
            stop_server(server)
        print(
            f"floor: the same load against a server answering constants ({name}), "
            f"errors: {log.error_count()}, CPU steal {usage.steal:.0%}, server CPU "
            f"{usage.cpu_s / max(sum(log.codes.values()), 1) * 1000:.2f} ms per call"
        )
        print_latencies(log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scaled-objects", type=int, default=1000)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-streams", action="store_true", help="leave out the push streams")
    parser.add_argument(
        "--client-processes", type=int, default=1, help="spread the KEDA side over N processes"
    )
    parser.add_argument(
        "--probe", action="store_true", help="print both sides' event-loop lag and gc pauses"
    )
    parser.add_argument(
        "--history-h",
        type=float,
        default=72.0,
        help="hours of history back-filled per model (default: the default profile's 3 days)",
    )
    parser.add_argument(
        "--client",
        choices=("python", "go"),
        default="python",
        help="the KEDA side: grpcio in Python, or grpc-go as KEDA (needs `make keda-go`)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="then run the same load against a server answering constants (the floor)",
    )
    parser.add_argument(
        "--baseline-s", type=float, default=10.0, help="time an idle event loop first (0: skip)"
    )
    args = parser.parse_args()
    go_client = built_binary() if args.client == "go" else None
    if go_client is not None and args.probe:
        parser.error("--probe times Python clients' event loops: use it with --client python")
    asyncio.run(
        run(
            args.scaled_objects,
            args.duration_s,
            args.seed,
            not args.no_streams,
            args.client_processes,
            Path(tempfile.mkdtemp(prefix="scaler-load-")) if args.probe else None,
            args.baseline_s,
            args.history_h,
            args.floor,
            go_client,
        )
    )


if __name__ == "__main__":
    main()
