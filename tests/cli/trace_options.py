"""What the CLI tests of trace options share: the commands that read a trace, how to run
each quickly on a sample, and a demand series (which no trace option applies to)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from prewarm_cli.main import app

RUNNER = CliRunner()
COMMANDS = ("simulate", "sweep", "emulate", "backtest", "tune")
# What each command needs besides --trace/--format to run quickly on a sample.
QUICK = {
    "simulate": ["--policies", "static,oracle", "--cold-start-s", "60"],
    "sweep": ["--policies", "oracle", "--workers", "1", "--warmup-s", "1800"],
    "tune": ["--space", "given", "--choices", "target_utilisation=0.7,0.8", "--workers", "1",
             "--warmup-s", "1800"],
}  # fmt: skip


def prewarm(*args: str) -> Result:
    return RUNNER.invoke(app, list(args))


def text(result: Result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def with_trace(command: str, trace: Path, fmt: str, out: Path, *extra: str) -> Result:
    """`command` on `trace`, writing to `out` (emulate writes nothing and serves on any port)."""
    out_option = [] if command == "emulate" else ["--out", str(out)]
    port = ["--port", "0"] if command == "emulate" else []
    return prewarm(command, "--trace", str(trace), "--format", fmt, *out_option, *port, *extra)


def write_demand_series(folder: Path) -> Path:
    """A day of flat demand every 600 s, as `--series` reads it."""
    series = folder / "demand.csv"
    series.write_text("t_s,value\n" + "\n".join(f"{t},100" for t in range(0, 86400, 600)))
    return series
