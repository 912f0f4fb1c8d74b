"""`prewarm` and its subcommands. Wiring only: each command parses, calls, prints."""

from __future__ import annotations

import typer

from autoscaler.cli.backtest import backtest_command
from autoscaler.cli.emulate import emulate_command
from autoscaler.cli.serve import serve_command
from autoscaler.cli.simulate import simulate_command
from autoscaler.cli.sweep import sweep_command
from autoscaler.cli.tune import tune_command
from scheduler.cli import place_command
from scheduler.kubernetes.inventory_command import inventory_command
from scheduler.kubernetes.serve_webhook import main as webhook_command

app = typer.Typer(
    name="prewarm",
    help="Predictive autoscaling and GPU placement for LLM inference on Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    # Plain click help: rich's boxed tables cut long flag names ("--allow-defragm…") at
    # 80 columns, and the wrapped text stays greppable.
    rich_markup_mode=None,
)
app.command("simulate")(simulate_command)
app.command("sweep")(sweep_command)
app.command("serve")(serve_command)
app.command("emulate")(emulate_command)
app.command("webhook")(webhook_command)
app.command("backtest")(backtest_command)
app.command("tune")(tune_command)
app.command("place")(place_command)
app.command("inventory")(inventory_command)


@app.callback()
def _root() -> None:
    """Predictive autoscaling and GPU placement for LLM inference on Kubernetes."""
