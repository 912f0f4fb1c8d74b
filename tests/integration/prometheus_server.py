"""A real Prometheus for integration tests: started on a free loopback port, stopped cleanly.

    server = PrometheusServer(binary, tmp / "data", targets=["127.0.0.1:8000"],
                              scrape_interval_s=1.0)
    server.start()          # writes the config, spawns, waits for /-/ready
    server.stop()           # SIGTERM, wait, SIGKILL: an outage mid-test ...
    server.start()          # ... and back on the SAME port with the SAME data dir

History is loaded *before* the first start with `backfill()`, which runs
`promtool tsdb create-blocks-from openmetrics <file> <data-dir>`. What works (promtool and
Prometheus 2.42, Debian bookworm):

- Input is OpenMetrics text, timestamps in SECONDS (floats allowed), ending with `# EOF`
  (without it promtool exits 1: "data does not end with # EOF"). `# TYPE` lines are optional.
- Samples of one series must be in time order: an older sample after a newer one is dropped
  silently. `openmetrics()` therefore writes each series sorted; series may interleave.
- Any timestamps work, old or up to now: promtool cuts blocks at 2 h boundaries. The
  documented "do not backfill the last 3 h" caveat is about a *running* server whose head
  block owns that range; backfilling before the server starts has no head to clash with,
  and the data is queryable as soon as `/-/ready` answers.
- Time retention is measured from the newest block, not the wall clock, so fixed old
  timestamps (tests use 2023) are not deleted; we still pass a long retention to be sure.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml


class PrometheusError(RuntimeError):
    """Prometheus or promtool failed; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Sample:
    """One OpenMetrics sample: `name{labels} value t_s`."""

    name: str
    labels: Mapping[str, str]
    value: float
    t_s: float


def _om_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _om_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def openmetrics(samples: Iterable[Sample]) -> str:
    """OpenMetrics text for promtool: each series in time order, `# EOF` at the end."""
    series: dict[tuple[str, tuple[tuple[str, str], ...]], list[Sample]] = {}
    for sample in samples:
        series.setdefault((sample.name, tuple(sorted(sample.labels.items()))), []).append(sample)
    lines = []
    for (name, labels), points in series.items():
        label_text = ",".join(f'{k}="{_om_escape(v)}"' for k, v in labels)
        head = f"{name}{{{label_text}}}" if label_text else name
        for point in sorted(points, key=lambda p: p.t_s):
            lines.append(f"{head} {_om_number(point.value)} {point.t_s!r}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill(promtool: Path, text: str, data_dir: Path) -> None:
    """Write OpenMetrics `text` into TSDB blocks in `data_dir` (before Prometheus starts)."""
    if not text.rstrip().endswith("# EOF"):
        raise ValueError("OpenMetrics input must end with '# EOF' (promtool refuses it)")
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / f"{data_dir.name}-backfill.om"
    source.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [str(promtool), "tsdb", "create-blocks-from", "openmetrics", "--quiet"]
        + [str(source), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise PrometheusError(f"promtool failed ({done.returncode}): {done.stderr[-2000:]}")


@dataclass
class PrometheusServer:
    """One Prometheus process; `start()`/`stop()` may be repeated (same port, same data)."""

    binary: Path
    data_dir: Path
    targets: Sequence[str] = ()  # "host:port" scraped at /metrics, job "targets"
    scrape_interval_s: float = 1.0
    port: int = field(default_factory=free_port)
    ready_timeout_s: float = 30.0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-prometheus.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def config(self) -> dict[str, object]:
        interval = f"{max(1, round(self.scrape_interval_s * 1000))}ms"
        scrape_configs = []
        if self.targets:
            scrape_configs.append(
                {"job_name": "targets", "static_configs": [{"targets": list(self.targets)}]}
            )
        # scrape_timeout defaults to 10 s and must not exceed the interval.
        return {
            "global": {"scrape_interval": interval, "scrape_timeout": interval},
            "scrape_configs": scrape_configs,
        }

    def start(self) -> None:
        if self.running:
            raise PrometheusError(f"Prometheus on {self.url} is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.data_dir.parent / f"{self.data_dir.name}-prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.config()), encoding="utf-8")
        args = [
            str(self.binary),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=100y",
            "--log.level=info",
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise PrometheusError(
                    f"Prometheus exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            with (
                contextlib.suppress(OSError),  # URLError, refused, reset: not up yet
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise PrometheusError(
            f"Prometheus not ready within {self.ready_timeout_s} s:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM and wait (Prometheus flushes and unlocks its data dir); SIGKILL if stuck."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class PrometheusFactory:
    """Makes started servers under `base_dir`, each with its own data dir; `close()` stops all."""

    binary: Path
    promtool: Path
    base_dir: Path
    servers: list[PrometheusServer] = field(default_factory=list)

    def __call__(
        self,
        *,
        targets: Sequence[str] = (),
        scrape_interval_s: float = 1.0,
        history: str | Iterable[Sample] | None = None,
    ) -> PrometheusServer:
        """A running Prometheus, first back-filled with `history` (OpenMetrics text or
        samples) when given."""
        data_dir = self.base_dir / f"prometheus-{len(self.servers)}" / "data"
        if history is not None:
            text = history if isinstance(history, str) else openmetrics(history)
            backfill(self.promtool, text, data_dir)
        server = PrometheusServer(
            self.binary, data_dir, targets=targets, scrape_interval_s=scrape_interval_s
        )
        self.servers.append(server)
        server.start()
        return server

    def close(self) -> None:
        for server in self.servers:
            server.stop()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


INSTALL_HINT = "install it with `apt-get install prometheus` (as root, `make test` does)"


def require_binary(name: str) -> Path:
    """`name` on PATH, else skip the test with the reason; with CI=true, fail it instead."""
    found = shutil.which(name)
    if found is None:
        message = f"`{name}` is not on PATH: {INSTALL_HINT}"
        if env_flag("CI"):
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    return Path(found)
