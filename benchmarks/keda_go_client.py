"""Runs benchmarks/keda_go's `play` (KEDA's call pattern on grpc-go, KEDA's own gRPC stack)
and reads its calls back into a CallLog, so both load generators report through one path:
its push streams' outcomes too (under StreamIsActive, as `CallLog.record_stream` counts
them), so a failed stream is an error here as in the Python client.

The binary is built by `make keda-go` into out/keda-go.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from simulations.keda.client import CallLog

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "benchmarks" / "keda_go" / "main.go"
BINARY = ROOT / "out" / "keda-go"


def built_binary() -> Path:
    """The Go load generator, or SystemExit saying how to build it."""
    if not BINARY.exists() or BINARY.stat().st_mtime < SOURCE.stat().st_mtime:
        raise SystemExit(
            f"{BINARY.relative_to(ROOT)} is missing or older than {SOURCE.relative_to(ROOT)}:"
            " run `make keda-go` (it needs Debian's golang-go and golang-google-grpc-dev,"
            " which it installs when run as root)"
        )
    return BINARY


async def play_keda_in_go(
    binary: Path,
    grpc_port: int,
    first: int,
    count: int,
    duration_s: float,
    seed: int,
    streams: bool,
    streams_ahead_s: float,
) -> CallLog:
    process = await asyncio.create_subprocess_exec(
        str(binary),
        "play",
        f"-addr=127.0.0.1:{grpc_port}",
        f"-first={first}",
        f"-count={count}",
        f"-duration-s={duration_s}",
        f"-streams-ahead-s={streams_ahead_s}",
        f"-streams={str(streams).lower()}",
        f"-seed={seed}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{binary.name} exited {process.returncode}: {err.decode()[-2000:]}")
    return call_log_from_json(json.loads(out))


def call_log_from_json(report: dict) -> CallLog:  # type: ignore[type-arg]
    log = CallLog()
    for method, samples in report["latencies_s"].items():
        log.latencies_s[method] = [float(s) for s in samples]
    for method, code, n in report["codes"]:
        # grpc-go spells codes in CamelCase ("DeadlineExceeded", grpcio "DEADLINE_EXCEEDED");
        # both spell success "OK", which is all CallLog.error_count looks at.
        log.codes[(method, code)] += int(n)
    log.errors.extend((method, code, details) for method, code, details in report["errors"])
    return log
