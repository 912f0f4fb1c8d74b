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
