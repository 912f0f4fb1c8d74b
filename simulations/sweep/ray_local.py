"""A throwaway local Ray cluster: `ray start --head --block` on loopback (tests, benchmarks).

Started in its own process group with free ports and its own temp dir, so it neither meets
nor stops another cluster on the machine; stopped through its own `ray start` process, then
its process group (`ray stop` would stop every Ray process on the machine). Without Ray, or
when the head does not come up, `start_cluster` raises ClusterError with the log's tail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
READY = "Ray runtime started"


class ClusterError(RuntimeError):
    """Ray is not installed here, or the head did not start (the message has its log)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RayCluster:
    process: subprocess.Popen[bytes]
    gcs_port: int
    client_port: int
    temp_dir: Path
    log: Path

    @property
    def address(self) -> str:
        """The GCS address, as `prewarm sweep --ray-address` takes it."""
        return f"127.0.0.1:{self.gcs_port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to `ray start --block`, which stops what it started (in ~3 s); SIGKILL
        to whatever of its process group is left after STOP_TIMEOUT_S; then its temp dir."""
        group = self.process.pid  # start_new_session: the group id is the leader's pid
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        if not self._gone(group, STOP_TIMEOUT_S):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            self._gone(group, 5.0)
        self.process.wait(timeout=5)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _gone(self, group: int, wait_s: float) -> bool:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            self.process.poll()  # reap the leader
            if not _live_members(group):
                return True
            time.sleep(0.2)
        return False


def _live_members(group: int) -> list[int]:
    """Processes of `group` that are not zombies (the leader's children are reparented
    when it exits, and a container's init may leave them unreaped)."""
    proc = Path("/proc")
    if not proc.is_dir():  # no procfs: any member, zombie or not
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return []
        return [group]
    live = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == group:
            live.append(int(entry.name))
    return live


def start_cluster(cpus: int = 2) -> RayCluster:
    """A head node with `cpus` CPUs, ready to accept drivers; ClusterError when Ray is
    missing or the head does not start within START_TIMEOUT_S."""
    ray_cli = Path(sys.executable).parent / "ray"
    if not ray_cli.exists():
        raise ClusterError(f"Ray is not installed ({ray_cli} absent: pip install 'prewarm[ray]')")
    # Short: Ray's unix sockets live under it and their paths are limited to 107 bytes.
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    log = temp_dir / "head.log"
    gcs_port, client_port = free_port(), free_port()
    command = [
        str(ray_cli),
        "start",
        "--head",
        "--block",
        f"--num-cpus={cpus}",
        "--num-gpus=0",
        "--node-ip-address=127.0.0.1",
        f"--port={gcs_port}",
        f"--ray-client-server-port={client_port}",
        f"--dashboard-agent-listen-port={free_port()}",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
    ]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": ""}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    cluster = RayCluster(process, gcs_port, client_port, temp_dir, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = cluster.log_tail()
            cluster.stop()
            raise ClusterError(f"`ray start --head` exited with {process.returncode}:\n{tail}")
        if READY in cluster.log_tail(200):
            return cluster
        time.sleep(0.2)
    tail = cluster.log_tail()
    cluster.stop()
    raise ClusterError(f"the Ray head did not start within {START_TIMEOUT_S:.0f} s:\n{tail}")
