"""How `sweep` and `tune` end when their replays cannot go on: one message and exit code for
each cause, and the reminder that finished replays are kept in the cache."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape


@contextmanager
def replay_failures_reported(console: Console, cache_dir: Path, resume: str = "") -> Iterator[None]:
    """A replay that failed exits 1, Ctrl-C exits 130 (`resume` says how the same command
    goes on), a Ray cluster that cannot run this code exits 2."""
    from simulations.sweep.executor import SweepTaskError
    from simulations.sweep.ray_executor import RayUnavailable

    try:
        yield
    except SweepTaskError as exc:
        console.print(
            f"[red]error:[/red] {escape(str(exc))} (finished replays are cached in {cache_dir})",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print(
            f"interrupted: finished replays are cached in {cache_dir}; the same command goes "
            f"on from there{resume}",
            highlight=False,
        )
        raise typer.Exit(130) from None
    except RayUnavailable as exc:  # the cluster runs other simulation code
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
