"""How sweep and tune end when their replays cannot go on."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import typer
from rich.console import Console

from prewarm_cli.replay_errors import replay_failures_reported
from simulations.sweep.executor import SweepTaskError
from simulations.sweep.ray_executor import RayUnavailable
from simulations.sweep.tasks import SweepTask, TraceRef


def ended_by(cause: BaseException, resume: str = "") -> tuple[int, str]:
    out = io.StringIO()
    console = Console(file=out, width=200)
    with (
        pytest.raises(typer.Exit) as ended,
        replay_failures_reported(console, Path("out/x/cache"), resume),
    ):
        raise cause
    return ended.value.exit_code, out.getvalue()


def test_a_failed_replay_exits_1_naming_it_and_the_cache() -> None:
    task = SweepTask(
        key="k", trace=TraceRef("t.csv", "rate", 0), trace_digest="d", warmup_s=0.0,
        family="oracle", overrides=(), profile={}, seed=0,
    )  # fmt: skip
    code, text = ended_by(SweepTaskError(task, ValueError("boom")))
    assert code == 1
    assert "oracle on t.csv" in text and "boom" in text and "out/x/cache" in text


def test_ctrl_c_exits_130_saying_how_to_go_on() -> None:
    code, text = ended_by(KeyboardInterrupt(), resume=" (same seed)")
    assert code == 130
    assert "the same command goes on from there (same seed)" in text


def test_a_cluster_that_cannot_run_this_code_exits_2() -> None:
    code, text = ended_by(RayUnavailable("the cluster runs other code"))
    assert code == 2 and "the cluster runs other code" in text


def test_other_errors_pass_through() -> None:
    with pytest.raises(OSError), replay_failures_reported(Console(), Path("c")):
        raise OSError("disk")
