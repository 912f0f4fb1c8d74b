"""Small generated inputs for the backtest/tune CLI tests (never ../shared)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner, Result

from prewarm_cli.main import app

RUNNER = CliRunner()


def prewarm(*args: str) -> Result:
    return RUNNER.invoke(app, list(args))


def daily_series(tmp_path: Path, days: float = 2.5, bucket_s: float = 300.0) -> Path:
    """A daily cycle with noise, `t_s,value`: ~1,000 tok/s at night, ~3,000 by day."""
    rng = np.random.default_rng(7)
    t = np.arange(0, days * 86400, bucket_s)
    value = 2000 - 1000 * np.cos(2 * np.pi * t / 86400) + rng.normal(0, 60, t.size)
    path = tmp_path / "demand.csv"
    rows = "\n".join(f"{a:.0f},{b:.3f}" for a, b in zip(t, value, strict=True))
    path.write_text("t_s,value\n" + rows + "\n")
    return path


def azure_trace(tmp_path: Path, minutes: int = 90) -> Path:
    """Azure 2023 format: 2 requests a second for `minutes`, rising after half-time."""
    path = tmp_path / "trace.csv"
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for i in range(minutes * 60 * 2):
        seconds = i * 0.5
        prompt = 1000 if seconds < minutes * 30 else 3000
        hour, rest = divmod(seconds, 3600)
        lines.append(
            f"2023-11-16 {int(10 + hour):02d}:{int(rest // 60):02d}:{rest % 60:09.6f}0,{prompt},30"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
