"""`prewarm emulate` as a user runs it: a real process, a real scrape, a signal to stop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from autoscaler.clock import ManualClock
from prewarm_cli.emulate import build_fleet, emulate_command
from tests.emulator.helpers import parse

# The command as `prewarm emulate` will run it once main.py registers it.
RUN_COMMAND = "import typer; from prewarm_cli.emulate import emulate_command as c; typer.run(c)"


def write_azure(tmp_path: Path, rows: int = 240) -> Path:
    path = tmp_path / "trace.csv"
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for i in range(rows):
        seconds = i * 0.5  # 2 req/s for 2 minutes
        lines.append(f"2023-11-16 18:{17 + int(seconds // 60):02d}:{seconds % 60:09.6f}0,2000,30")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_emulate_serves_metrics_until_stopped(tmp_path: Path, stop: signal.Signals) -> None:
    args = ["--trace", str(write_azure(tmp_path)), "--port", "0", "--model", "m1"]
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(60.0, proc.kill)  # a hung process fails the test, not CI
    watchdog.start()
    try:
        output = []
        url = None
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if found := re.search(r"Serving (http://\S+/metrics)", line):
                url = found.group(1)
                break
        assert url, "".join(output)
        families = parse(httpx.get(url, timeout=10.0).text)
        labels = families["vllm:prompt_tokens"].samples[0].labels  # type: ignore[attr-defined]
        assert labels["model_name"] == "m1"
        proc.send_signal(stop)
        rest, _ = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(output) + rest
    assert "Stopped." in rest


@pytest.fixture
def runner_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(emulate_command)
    return app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "csv"], "unknown --format 'csv'"),
        (["--trace", "/nonexistent/trace.csv"], "/nonexistent/trace.csv"),
        (["--profile", "/nonexistent/profile.yaml"], "profile file not found"),
        (["--seed", "-1"], "--seed"),  # was numpy's "expected non-negative integer"
    ],
    ids=["bad-format", "missing-trace", "missing-profile", "negative-seed"],
)
def test_bad_input_exits_2_with_a_message(
    runner_app: typer.Typer, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(runner_app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_without_a_trace_the_bundled_one_is_replayed() -> None:
    fleet = build_fleet(None, clock=ManualClock(0.0), model="demo")
    snap = fleet.snapshot()
    assert snap.model_name == "demo"
    assert snap.ready_replicas >= 1  # auto-sized from the bundled profile


def test_max_requests_keeps_the_start_of_a_rate_series(tmp_path: Path) -> None:
    # The safety limit's error tells the user to pass --max-requests: emulate must have it.
    series = tmp_path / "rates.csv"
    series.write_text("t_s,rate_rps\n0,1e9\n60,1e9\n")  # ~1e11 requests: over the limit
    with pytest.raises(ValueError, match="--max-requests"):
        build_fleet(series, "rate", clock=ManualClock(0.0))
    fleet = build_fleet(series, "rate", clock=ManualClock(0.0), max_requests=1000)
    assert fleet.snapshot().model_name == "demo"
