"""Options more than one subcommand takes, defined once so their names and help agree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simulations.traces.formats import FORMAT_HELP

TraceOption = Annotated[
    Path | None, typer.Option(help="request trace or rate series; omitted: bundled trace")
]
FormatOption = Annotated[str, typer.Option("--format", help=FORMAT_HELP)]
ProfileOption = Annotated[
    Path | None, typer.Option(help="model profile YAML; omitted: the bundled example")
]
SeedOption = Annotated[int, typer.Option(help="seed for arrivals and cold-start jitter")]
# No typer min=: `inf` and `nan` pass it, so simulations.traces.scale.check_scale says what
# is wrong with every bad value, in every command, the same way.
RateScaleOption = Annotated[
    float,
    typer.Option(
        help="rate series (rate, servegen, azure2024): multiply the request rate by this "
        "(token demand follows)"
    ),
]
LengthScaleOption = Annotated[
    float,
    typer.Option(
        help="multiply each request's prompt and output tokens by this (token demand "
        "follows; with --rate-scale it scales by both)"
    ),
]
# No typer min=: as for the scales, simulations.traces.window.check_window says what is wrong.
FromOption = Annotated[
    float | None,
    typer.Option(
        "--from-s",
        help="keep the trace's rows/requests from this many seconds after its start (t=0: "
        "its first row or first request); the kept part starts at 0, so a default warm-up "
        "is its first day",
    ),
]
UntilOption = Annotated[
    float | None,
    typer.Option(
        "--until-s",
        help="keep the trace's rows/requests before this many seconds after its start (a "
        "rate row is kept whole when it starts before this)",
    ),
]
