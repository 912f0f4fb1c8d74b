"""`prewarm` and its subcommands, joined by name.

The console script is the only place where the online path (autoscaler/), the offline tools
(simulations/) and placement (scheduler/) meet. Each subcommand is named here as
"module:function" and imported only when it runs (or its help is shown), so `prewarm serve`
never loads the simulator or matplotlib, and no package has to import this one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup


@dataclass(frozen=True)
class CommandRef:
    target: str  # "package.module:function", a typer-annotated function
    summary: str  # the one line `prewarm --help` shows without importing the module


COMMANDS: dict[str, CommandRef] = {
    "simulate": CommandRef(
        "prewarm_cli.simulate:simulate_command",
        "Replay a trace through every policy with the same fleet model, and compare them.",
    ),
    "sweep": CommandRef(
        "prewarm_cli.sweep:sweep_command",
        "Replay policy families over a grid of profile overrides: cost/SLO frontiers.",
    ),
    "serve": CommandRef(
        "prewarm_cli.serve:serve_command",
        "Serve KEDA's ExternalScaler over gRPC, plus /healthz and /metrics over HTTP.",
    ),
    "emulate": CommandRef(
        "prewarm_cli.emulate:emulate_command",
        "Serve vLLM's metrics for a simulated fleet replaying a trace.",
    ),
    "webhook": CommandRef(
        "scheduler.kubernetes.serve_webhook:main",
        "Serve the placement webhook (POST /mutate) over HTTPS.",
    ),
    "backtest": CommandRef(
        "prewarm_cli.backtest:backtest_command",
        "Replay a model's history through forecasters from every origin; score them.",
    ),
    "tune": CommandRef(
        "prewarm_cli.tune:tune_command", "Search a model's profile on its own history."
    ),
    "place": CommandRef(
        "scheduler.cli:place_command",
        "Plan which GPU, MIG slice, instance type and zone each replica gets.",
    ),
    "inventory": CommandRef(
        "scheduler.kubernetes.inventory_command:inventory_command",
        "Read the cluster's GPU inventory (Nodes, DRA ResourceSlices).",
    ),
}


# typer vendors its own click and does not export its classes (context, command, help
# formatter), so they are typed Any here.
def load_command(name: str) -> Any:
    """Import one subcommand and turn its typer function into a click command."""
    ref = COMMANDS[name]
    module_name, function_name = ref.target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    single = typer.Typer(add_completion=False, rich_markup_mode=None)
    single.command(name)(function)
    command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        return load_command(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # The summaries come from COMMANDS, so the group's help imports no subcommand.
        rows = [(name, ref.summary) for name, ref in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="prewarm",
    cls=LazyGroup,
    help="Predictive autoscaling and GPU placement for LLM inference on Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    # Plain click help: rich's boxed tables cut long flag names ("--allow-defragm…") at
    # 80 columns, and the wrapped text stays greppable.
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Predictive autoscaling and GPU placement for LLM inference on Kubernetes."""
