"""Benchmark: 1,000 ScaledObjects polled the way KEDA does, plus 1,000 open push streams.

Goal (issue 3): GetMetrics p99 within 1.5x of a server that answers constants (below), no
errors, RSS of the scaler's main and gRPC front processes <= 300 MB. The scaler runs as its
own process (benchmarks/scaler_server.py: the real app and registry, one distinct model per
ScaledObject, a synthetic source) with its gRPC front process, as `prewarm serve` runs;
CPU and RSS are printed for every process it runs (main, gRPC front, refit worker, resource
tracker), each and summed. This process plays KEDA over loopback gRPC:
a polling loop (30 s) and an HPA loop (15 s, 3 s deadline) per ScaledObject, started at
seeded random offsets, and one StreamIsActive each. The streams open once every model has
back-filled its history and forecasts from parameters its refit worker fitted; the loops
start once the scaler has re-frozen its heap after that: the steady state, where every
decision runs a real forecast and every window is full. A failed call and a stream that
could not be opened or ended with a non-OK status are both errors.

    .venv/bin/python benchmarks/scaler_load.py [--scaled-objects 1000] [--duration-s 60]
        [--rounds 2] [--no-floor] [--client python|go] [--client-processes 1]
        [--history-h 72] [--probe] [--one-process] [--no-heap-freeze] [--no-gil-tuning]

Absolute milliseconds on a shared virtual machine swing with the host's CPU steal, so the
headline is a ratio: the same load against a grpc.aio server that answers constants
(benchmarks/floor_scaler.py, on uvloop and tuned as the scaler is), interleaved with the
scaler's in one run: scaler, floor, scaler, floor (`--rounds`), the scaler staying up (idle,
its own background work only) while the floor is measured. The ratio is of GetMetrics
p50 and p99, all rounds' calls pooled; each phase's absolute figures and steal are printed
beside it. With `--client go` a grpc-go constant server is measured too, once, after the
scaler has stopped (not in the ratio).

Before the run an idle event loop is timed alone: on a virtual machine whose host is busy,
that baseline (and the CPU steal printed for each phase) says how much of the tail is the
machine's. `--probe` adds event-loop lag and gc pauses during the load, of the Python
client and of the scaler's main process (which decides; the front answers; its summary
covers the last round onwards).

Three latency mechanisms of `prewarm serve` can be switched off, to see what each buys:
`--one-process` (serve config `grpc.own_process: false`: the main process answers KEDA
itself), `--no-heap-freeze` (no `gc.freeze()` in any of the scaler's processes: neither
`tune_for_latency`'s at start-up nor heap_settling.py's once settled) and `--no-gil-tuning`
(CPython's default 5 ms GIL switch interval instead of latency_tuning.py's 0.5 ms). The
scaler's code is not changed for them: the benchmark puts a `sitecustomize.py` of its own
(SWITCHES_SHIM below) on the scaler's PYTHONPATH, which reads PREWARM_BENCH_OFF, an
environment variable only it reads. The floor server never gets them.
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
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
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
STREAMS_AHEAD_S = 15.0  # streams open alone first when nothing needs to settle
RATIO_GOAL = 1.5  # GetMetrics p99 against the constant grpc.aio server's
RSS_GOAL_MB = 300.0  # main process and gRPC front together
MB_PER_MIB = 1.048576

# The switches, by what each turns off: the name in PREWARM_BENCH_OFF and what it means.
SWITCHES = {
    "own_process": "one process (grpc.own_process: false)",
    "heap_freeze": "no heap freezing",
    "gil_tuning": "CPython's 5 ms GIL switch interval",
}

# Put on the scaler's PYTHONPATH as sitecustomize.py when a switch is off, so it acts in
# every process the scaler starts (the front is a fresh interpreter), before their code
# runs. It imports nothing of the scaler's, except where `own_process` is off, and only in
# the process it was given to (the scaler's main process): its children do not inherit it.
SWITCHES_SHIM = '''"""benchmarks/scaler_load.py's switches: what PREWARM_BENCH_OFF names is off."""
import gc
import os
import sys

_off = set(filter(None, os.environ.get("PREWARM_BENCH_OFF", "").split(",")))
if "gil_tuning" in _off:  # tune_for_latency's 0.5 ms: CPython's default (5 ms) stays
    sys.setswitchinterval = lambda interval: None
if "heap_freeze" in _off:  # tune_for_latency's and freeze_when_settled's gc.freeze()
    gc.freeze = lambda: None
if "own_process" in _off:
    os.environ["PREWARM_BENCH_OFF"] = ",".join(sorted(_off - {"own_process"}))
    from autoscaler.scaler.app import ScalerApp

    _init = ScalerApp.__init__

    def _one_process(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        self.grpc_process = False  # as `grpc.own_process: false` in the serve config

    ScalerApp.__init__ = _one_process
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # gone since listed
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (a host's steal is not counted)."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def child_pids(pid: int) -> list[int]:
    pids = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
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


MAIN, FRONT, WORKER, TRACKER, OTHER = (
    "main",
    "gRPC front",
    "refit worker",
    "resource tracker",
    "other",
)
ROLES = (MAIN, FRONT, WORKER, TRACKER, OTHER)


def role_of(pid: int, root: int, front: int | None) -> str:
    """What a process of the server's tree is, from its command line (`prewarm serve`
    starts the front with `-m autoscaler.scaler.grpc_front`, multiprocessing its refit
    workers with spawn_main and its resource tracker with resource_tracker)."""
    if pid == root:
        return MAIN
    if pid == front:
        return FRONT
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "autoscaler.scaler.grpc_front" in command:
            return FRONT
        if "resource_tracker" in command:
            return TRACKER
        if "spawn_main" in command or "forkserver" in command:
            return WORKER
    return OTHER


def process_tree(root: int, grpc_port: int | None) -> dict[int, str]:
    """Every live process under `root` (and it), by role."""
    descendants, pending = [], child_pids(root)
    while pending:
        pid = pending.pop()
        descendants.append(pid)
        pending += child_pids(pid)
    front = listening_pid(grpc_port, descendants) if grpc_port else None
    return {pid: role_of(pid, root, front) for pid in [root, *descendants]}


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


@dataclass
class Usage:
    """A server's processes over a phase: CPU seconds and peak RSS per role (a role's
    processes summed), and the peaks of the per-sample sums."""

    cpu_s: dict[str, float] = field(default_factory=dict)
    rss_before_mib: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    peak_main_front_mib: float = 0.0
    peak_all_mib: float = 0.0
    processes: dict[str, int] = field(default_factory=dict)  # how many of each role
    steal: float = 0.0


class ServerWatch:
    """Samples a server's process tree (`sample`, once a second) from its creation."""

    def __init__(self, root: int, grpc_port: int | None) -> None:
        self.root, self.grpc_port = root, grpc_port
        self.usage = Usage()
        self._cpu_before: dict[int, float] = {}
        self._cpu_last: dict[int, tuple[str, float]] = {}
        self._cpu_times = cpu_times()
        tree = process_tree(root, grpc_port)
        for pid in tree:
            self._cpu_before[pid] = cpu_s(pid)
        self.usage.rss_before_mib = self._rss_by_role(tree)
        self.sample()

    @staticmethod
    def _rss_by_role(tree: Mapping[int, str]) -> dict[str, float]:
        by_role = dict.fromkeys(ROLES, 0.0)
        for pid, role in tree.items():
            by_role[role] += rss_mib(pid)
        return by_role

    def sample(self) -> None:
        tree = process_tree(self.root, self.grpc_port)
        by_role = self._rss_by_role(tree)
        usage = self.usage
        for role, mib in by_role.items():
            usage.peak_rss_mib[role] = max(usage.peak_rss_mib.get(role, 0.0), mib)
        usage.peak_main_front_mib = max(usage.peak_main_front_mib, by_role[MAIN] + by_role[FRONT])
        usage.peak_all_mib = max(usage.peak_all_mib, sum(by_role.values()))
        for role in ROLES:
            usage.processes[role] = max(
                usage.processes.get(role, 0), sum(r == role for r in tree.values())
            )
        for pid, role in tree.items():
            self._cpu_last[pid] = (role, cpu_s(pid))

    def finish(self) -> Usage:
        self.sample()
        cpu = dict.fromkeys(ROLES, 0.0)
        for pid, (role, spent_s) in self._cpu_last.items():
            cpu[role] += spent_s - self._cpu_before.get(pid, 0.0)  # 0: started since
        self.usage.cpu_s = cpu
        self.usage.steal = cpu_steal_fraction(self._cpu_times, cpu_times())
        return self.usage


@dataclass
class Phase:
    """One measured load against one server."""

    server: str  # "scaler", or which floor
    log: CallLog
    usage: Usage
    stalls: list[str]
    scaler_idle_cpu_s: float = 0.0  # the scaler's, while a floor was measured beside it


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
    bystander: int | None = None,
) -> tuple[CallLog, list[str], Usage, Usage | None]:
    """Plays KEDA for `n` ScaledObjects against the server on `grpc_port`: streams open at
    once, both loops start `streams_ahead_s` later and run `duration_s`. Returns every call,
    each client's stall summary (with `probe`, Python clients only), the server's resources
    during the loops and those of `bystander`'s tree (a server left idle meanwhile). With
    `go_client`, that binary plays KEDA instead."""
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
        watch = ServerWatch(server.pid, grpc_port)
        idle = ServerWatch(bystander, None) if bystander is not None else None
        while not all(f.done() for f in futures):
            await asyncio.sleep(1.0)
            watch.sample()
        results = [f.result() for f in futures]
    log = CallLog()
    for part, _ in results:
        log.merge(part)
    return (
        log,
        [stalls for _, stalls in results],
        watch.finish(),
        idle.finish() if idle is not None else None,
    )


def start_server(argv: list[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env and dict(env)
    )


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=30)


def server_env(off: frozenset[str]) -> dict[str, str] | None:
    """The scaler's environment with the switches in `off` (None: this one, untouched)."""
    if not off:
        return None
    shim_dir = Path(tempfile.mkdtemp(prefix="scaler-load-switches-"))
    (shim_dir / "sitecustomize.py").write_text(SWITCHES_SHIM)
    path = os.pathsep.join(p for p in (str(shim_dir), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "PREWARM_BENCH_OFF": ",".join(sorted(off))}


async def _go_client_process(
    binary: Path, job: tuple[int, int, int, float, int, bool, bool, float]
) -> tuple[CallLog, str]:
    """The Go client's share of a job (as `_client_process` takes it); it has no probe."""
    port, first, count, duration_s, seed, streams, _probe, streams_ahead_s = job
    log = await play_keda_in_go(
        binary, port, first, count, duration_s, seed, streams, streams_ahead_s
    )
    return log, ""


@dataclass(frozen=True)
class Load:
    """The KEDA side, the same against every server of a run."""

    n: int
    duration_s: float
    seed: int
    streams: bool
    client_processes: int
    go_client: Path | None


async def measure_floor(
    load: Load, name: str, argv: list[str], scaler: subprocess.Popen[bytes] | None, seed: int
) -> Phase:
    """The load against a server answering constants; `scaler`, if up, idles meanwhile."""
    grpc_port = free_port()
    address = [str(grpc_port)] if argv[0] == sys.executable else [f"-addr=127.0.0.1:{grpc_port}"]
    server = start_server([*argv, *address])
    try:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
        await asyncio.wait_for(channel.channel_ready(), timeout=60)
        await channel.close()
        log, _, usage, idle = await play_keda_in_processes(
            grpc_port,
            load.n,
            load.duration_s,
            seed,
            load.streams,
            load.client_processes,
            False,
            STREAMS_AHEAD_S,
            server,
            load.go_client,
            bystander=scaler.pid if scaler is not None else None,
        )
    finally:
        stop_server(server)
    return Phase(name, log, usage, [], sum(idle.cpu_s.values()) if idle else 0.0)


GRPC_AIO_FLOOR = "grpc.aio floor"
GRPC_GO_FLOOR = "grpc-go floor"


async def run(
    load: Load,
    probe_dir: Path | None = None,
    baseline_s: float = 10.0,
    history_h: float = 72.0,
    floor: bool = True,
    rounds: int = 2,
    off: frozenset[str] = frozenset(),
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
        ],
        server_env(off),
    )
    phases: list[Phase] = []
    try:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
        await asyncio.wait_for(channel.channel_ready(), timeout=60)
        warm = KedaLikeClient(channel, CallLog())
        await asyncio.gather(*(warm._call("GetMetricSpec", r, 10) for r in refs(load.n)))
        await channel.close()
        warm_up_s = await wait_ready(http_port, load.n, fitted=history_h > 0)
        for round_ in range(rounds):
            # The streams open now. The scaler re-freezes its heap once its ScaledObjects
            # and fits have held still for 120 s (the last fits landed by now); the first
            # round's loops start after that, so the scaler is measured as it runs after
            # minutes. Later rounds find it settled.
            log, stalls, usage, _ = await play_keda_in_processes(
                grpc_port,
                load.n,
                load.duration_s,
                load.seed + round_,
                load.streams,
                load.client_processes,
                probe_dir is not None,
                SETTLED_FREEZE_S if round_ == 0 else STREAMS_AHEAD_S,
                server,
                load.go_client,
            )
            phases.append(Phase("scaler", log, usage, stalls))
            if floor:
                phases.append(
                    await measure_floor(
                        load,
                        GRPC_AIO_FLOOR,
                        [sys.executable, str(FLOOR_SERVER)],
                        server,
                        load.seed + round_,  # the offsets the scaler's round had
                    )
                )
    finally:
        stop_server(server)
    if floor and load.go_client is not None:
        argv = [str(load.go_client), "serve-constants"]
        phases.append(await measure_floor(load, GRPC_GO_FLOOR, argv, None, load.seed))
    report(load, phases, off, warm_up_s, history_h, baseline)
    if probe_dir is not None:
        print("\n".join(s for phase in phases for s in phase.stalls))
        print((probe_dir / "scaler.txt").read_text())


def pooled(phases: list[Phase], server: str, method: str = "GetMetrics") -> list[float]:
    return [s for p in phases if p.server == server for s in p.log.latencies_s.get(method, [])]


def ratio(scaler: list[float], floor: list[float], q: float) -> float:
    below = percentile_ms(floor, q)
    return percentile_ms(scaler, q) / below if below > 0 else float("nan")


def describe(off: frozenset[str]) -> str:
    if not off:
        return (
            "as `prewarm serve` runs by default (gRPC front process, heap freezing, "
            "0.5 ms GIL switch interval)"
        )
    return "with " + ", ".join(SWITCHES[name] for name in sorted(off))


def print_latencies(log: CallLog, indent: str = "  ") -> None:
    for method in ("GetMetricSpec", "GetMetrics", "IsActive"):
        samples = log.latencies_s.get(method, [])
        print(
            f"{indent}{method:14s} n={len(samples):6,d}  p50 {percentile_ms(samples, 0.5):6.2f} ms"
            f"  p99 {percentile_ms(samples, 0.99):7.2f} ms"
        )


def errors_line(log: CallLog) -> str:
    streams, failed_streams = log.stream_count()
    failed_calls = log.error_count() - failed_streams
    return (
        f"errors: {log.error_count()} ({failed_calls} of {log.call_count():,} calls, "
        f"{failed_streams} of {streams:,} streams)"
    )


def report(
    load: Load,
    phases: list[Phase],
    off: frozenset[str],
    warm_up_s: float,
    history_h: float,
    baseline: str,
) -> None:
    scaler_phases = [p for p in phases if p.server == "scaler"]
    floor_phases = [p for p in phases if p.server == GRPC_AIO_FLOOR]
    print(
        f"scaled objects: {load.n}, {len(scaler_phases)} round(s) of {load.duration_s:.0f} s, "
        f"push streams: {load.n if load.streams else 0}, KEDA side: {load.client_processes} "
        f"{'Go (grpc-go)' if load.go_client else 'Python (grpcio)'} client process(es); "
        f"{history_h:g} h of history back-filled per model, {warm_up_s:.0f} s until every "
        "model decided" + (" from fitted forecasts" if history_h > 0 else "")
    )
    print(f"scaler: {describe(off)}")
    scaler_gm = pooled(phases, "scaler")
    if floor_phases:
        floor_gm = pooled(phases, GRPC_AIO_FLOOR)
        p99_ratio = ratio(scaler_gm, floor_gm, 0.99)
        print(
            f"\nGetMetrics / constant grpc.aio server (floor_scaler.py), same load, interleaved "
            f"scaler, floor x{len(scaler_phases)}, calls pooled: p50 "
            f"{ratio(scaler_gm, floor_gm, 0.5):.2f}x, p99 {p99_ratio:.2f}x "
            f"(goal: p99 <= {RATIO_GOAL:g}x: {'met' if p99_ratio <= RATIO_GOAL else 'missed'})"
        )
        for i, (mine, theirs) in enumerate(zip(scaler_phases, floor_phases, strict=False), 1):
            a = mine.log.latencies_s.get("GetMetrics", [])
            b = theirs.log.latencies_s.get("GetMetrics", [])
            print(
                f"  round {i}: p50 {ratio(a, b, 0.5):.2f}x, p99 {ratio(a, b, 0.99):.2f}x | "
                f"scaler p50 {percentile_ms(a, 0.5):.2f} ms, p99 {percentile_ms(a, 0.99):.2f} ms,"
                f" steal {mine.usage.steal:.0%} | floor p50 {percentile_ms(b, 0.5):.2f} ms, "
                f"p99 {percentile_ms(b, 0.99):.2f} ms, steal {theirs.usage.steal:.0%}"
            )
        print(
            f"  pooled: scaler p50 {percentile_ms(scaler_gm, 0.5):.2f} ms, p99 "
            f"{percentile_ms(scaler_gm, 0.99):.2f} ms | floor p50 "
            f"{percentile_ms(floor_gm, 0.5):.2f} ms, p99 {percentile_ms(floor_gm, 0.99):.2f} ms"
        )
    print(
        f"GetMetrics p99 {percentile_ms(scaler_gm, 0.99):.2f} ms absolute (old goal <= 5 ms), "
        f"steal {', '.join(f'{p.usage.steal:.0%}' for p in scaler_phases)} by round"
    )

    scaler_log = CallLog()
    for phase in scaler_phases:
        scaler_log.merge(phase.log)
    calls = scaler_log.call_count()
    seconds = load.duration_s * len(scaler_phases)
    print(f"\nscaler: calls {calls:,} ({calls / seconds:,.0f}/s), {errors_line(scaler_log)}")
    print_latencies(scaler_log)
    if scaler_log.errors:
        print("  first errors:", scaler_log.errors[:3])
    cpu = {role: sum(p.usage.cpu_s.get(role, 0.0) for p in scaler_phases) for role in ROLES}
    answering = cpu[MAIN] + cpu[FRONT]
    print(
        f"scaler CPU: main + gRPC front {answering / seconds:.0%} of a core, "
        f"{answering / max(calls, 1) * 1000:.2f} ms per call (decisions included); of that, "
        f"the front {cpu[FRONT] / seconds:.0%} of a core; refit worker(s) "
        f"{cpu[WORKER] / seconds:.0%}"
    )
    peak = {role: max(p.usage.peak_rss_mib.get(role, 0.0) for p in scaler_phases) for role in ROLES}
    count = {role: max(p.usage.processes.get(role, 0) for p in scaler_phases) for role in ROLES}
    main_front = max(p.usage.peak_main_front_mib for p in scaler_phases)
    everything = max(p.usage.peak_all_mib for p in scaler_phases)
    before = scaler_phases[0].usage.rss_before_mib
    print(
        "scaler RSS peaks: "
        + ", ".join(
            f"{role}{f' x{count[role]}' if count[role] > 1 else ''} {peak[role]:.0f} MiB"
            + (f" ({before[role]:.0f} after warm-up)" if role == MAIN else "")
            for role in ROLES
            if count[role]
        )
    )
    print(
        f"  main + gRPC front{'' if count[FRONT] else ' (none: one process)'}: "
        f"{main_front * MB_PER_MIB:.0f} MB ({main_front:.0f} MiB; goal "
        f"<= {RSS_GOAL_MB:.0f} MB: {'met' if main_front * MB_PER_MIB <= RSS_GOAL_MB else 'missed'})"
        f"; all {sum(count.values())} processes: {everything * MB_PER_MIB:.0f} MB "
        f"({everything:.0f} MiB; what the pod holds, no goal). Peaks of the sums sampled each "
        "second."
    )
    floor_round = 0
    for phase in phases:
        if phase.server == "scaler":
            continue
        floor_round += phase.server == GRPC_AIO_FLOOR
        what = (
            f"benchmarks/floor_scaler.py, round {floor_round}"
            if phase.server == GRPC_AIO_FLOOR
            else "keda-go serve-constants, after the scaler stopped"
        )
        print(
            f"floor: {phase.server} ({what}), "
            f"{errors_line(phase.log)}, steal {phase.usage.steal:.0%}, server CPU "
            f"{sum(phase.usage.cpu_s.values()) / max(phase.log.call_count(), 1) * 1000:.2f} ms"
            " per call"
            + (
                f"; the idle scaler beside it {phase.scaler_idle_cpu_s / load.duration_s:.0%} "
                "of a core"
                if phase.server == GRPC_AIO_FLOOR
                else ""
            )
        )
        print_latencies(phase.log, "    ")
    if baseline:
        print(f"machine: before the run, {baseline}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scaled-objects", type=int, default=1000)
    parser.add_argument("--duration-s", type=float, default=60.0, help="of each round")
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
        "--rounds",
        type=int,
        default=2,
        help="scaler, floor, scaler, floor, ...: how many of each (default 2)",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="measure the scaler alone: absolute figures only, no ratio",
    )
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)  # the default
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="no gRPC front process (serve config grpc.own_process: false)",
    )
    parser.add_argument(
        "--no-heap-freeze",
        action="store_true",
        help="no gc.freeze() in the scaler's processes, at start-up or once settled",
    )
    parser.add_argument(
        "--no-gil-tuning",
        action="store_true",
        help="CPython's default 5 ms GIL switch interval in the scaler's processes (not 0.5)",
    )
    parser.add_argument(
        "--baseline-s", type=float, default=10.0, help="time an idle event loop first (0: skip)"
    )
    args = parser.parse_args()
    go_client = built_binary() if args.client == "go" else None
    if go_client is not None and args.probe:
        parser.error("--probe times Python clients' event loops: use it with --client python")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    off = frozenset(
        name
        for name, flag in (
            ("own_process", args.one_process),
            ("heap_freeze", args.no_heap_freeze),
            ("gil_tuning", args.no_gil_tuning),
        )
        if flag
    )
    load = Load(
        args.scaled_objects,
        args.duration_s,
        args.seed,
        not args.no_streams,
        args.client_processes,
        go_client,
    )
    asyncio.run(
        run(
            load,
            Path(tempfile.mkdtemp(prefix="scaler-load-")) if args.probe else None,
            args.baseline_s,
            args.history_h,
            not args.no_floor,
            args.rounds,
            off,
        )
    )


if __name__ == "__main__":
    main()
