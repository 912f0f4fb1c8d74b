"""`prewarm simulate`: replay a trace through Prewarm and the baselines, compare, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from autoscaler.profile import ModelProfile, ProfileError
from prewarm_cli.inputs import BUNDLED_PROFILE, check_out_dir, cli_profile
from prewarm_cli.options import (
    FormatOption,
    FromOption,
    LengthScaleOption,
    ProfileOption,
    RateScaleOption,
    TraceOption,
    UntilOption,
)
from simulations.traces.inputs import DEMO_DURATION_S, DEMO_MEAN_RPS

# Imported from here by other commands and tests.
__all__ = ["BUNDLED_PROFILE", "DEMO_DURATION_S", "DEMO_MEAN_RPS", "simulate_command"]


def simulate_command(
    trace: TraceOption = None,
    fmt: FormatOption = "azure",
    rate_scale: RateScaleOption = 1.0,
    length_scale: LengthScaleOption = 1.0,
    from_s: FromOption = None,
    until_s: UntilOption = None,
    profile: ProfileOption = None,
    policies: Annotated[
        str,
        typer.Option(
            help="comma-separated: predictive,reactive,reactive-tokens,dynamo-like,static,oracle"
        ),
    ] = "predictive,reactive,reactive-tokens,oracle",
    cold_start_s: Annotated[
        float | None, typer.Option(min=0, help="override the profile's cold start (s)")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="seed for arrivals and cold-start jitter")] = 0,
    process: Annotated[str, typer.Option(help="rate series arrivals: poisson | gamma")] = "poisson",
    cv: Annotated[float, typer.Option(min=0.01, help="gamma inter-arrival CV")] = 1.0,
    warmup_s: Annotated[
        float | None,
        typer.Option(
            help="back-filled into the predictive engine's and dynamo-like's history, not "
            "replayed or scored, s "
            "(default: one day, at most a quarter of the trace; 0: none)"
        ),
    ] = None,
    max_requests: Annotated[
        int | None,
        typer.Option(min=1, help="rate series: keep only the earliest N synthesised requests"),
    ] = None,
    inventory: Annotated[
        Path | None,
        typer.Option(
            help="place every replica on this inventory YAML (as `prewarm place` reads it): "
            "a shortage leaves replicas unplaced, never serving"
        ),
    ] = None,
    placement: Annotated[
        Path | None,
        typer.Option(
            help="with --inventory: YAML of what one replica needs (mig_profile | memory_gib | "
            "gpus_per_replica [+ nodes_per_replica], gpu_models); default: the profile's "
            "gpus_per_replica whole GPUs on one node"
        ),
    ] = None,
    node_provision_s: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="with --inventory: seconds a new node takes before a replica on it starts its "
            "cold start (default 120)",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="directory for summary.json, report, plots")] = Path(
        "out/simulate"
    ),
    json_out: Annotated[
        bool, typer.Option("--json", help="print summary.json to stdout instead of a table")
    ] = False,
) -> None:
    """Replay a trace through every policy with the same fleet model, and compare them."""
    from simulations.fleet.physics import FleetPhysics
    from simulations.fleet.placement import SimPlacement, load_sim_placement, need_summary
    from simulations.report import build_summary, comparison_table, write_report
    from simulations.report.table import placement_table
    from simulations.runner import parse_policy_names, simulate
    from simulations.traces.inputs import check_trace_options, load_trace_input, replay_warmup_s
    from simulations.traces.request_trace import TraceFormatError
    from simulations.traces.scale import TraceScale
    from simulations.traces.span import trimmed_note
    from simulations.traces.window import TraceWindow

    console = Console(stderr=json_out)
    try:
        names = parse_policy_names(policies)
        scale = TraceScale(rate_scale, length_scale)
        window = TraceWindow(from_s, until_s)
        check_trace_options(trace is not None, fmt, process, cv, max_requests, scale, window)
        model_profile = cli_profile(profile, cold_start_s)
        request_trace = load_trace_input(
            trace, fmt, seed=seed, process=process, cv=cv, max_requests=max_requests,
            scale=scale, window=window,
        )  # fmt: skip
        warmup = replay_warmup_s(request_trace, warmup_s)
        sim_placement: SimPlacement | None = None
        if inventory is None and (placement is not None or node_provision_s is not None):
            given = "--placement" if placement is not None else "--node-provision-s"
            raise ValueError(f"{given} goes with --inventory: there is nothing to place on")
        if inventory is not None:
            sim_placement = load_sim_placement(
                inventory, placement, model_profile.capacity.gpus_per_replica
            )
        check_out_dir(out)
    except (ValueError, ProfileError, TraceFormatError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None

    physics = FleetPhysics.from_profile(
        model_profile,
        **({} if node_provision_s is None else {"node_provision_s": node_provision_s}),
    )
    if trimmed_note(request_trace):
        console.print(f"[yellow]note:[/yellow] {trimmed_note(request_trace)}", highlight=False)
    console.print(
        f"Replaying [bold]{request_trace.n_requests:,}[/bold] requests over "
        f"{request_trace.duration_s / 3600:.1f} h ({request_trace.name}) through "
        f"{', '.join(names)}; cold start {model_profile.cold_start_s:g} s; the first "
        f"{warmup / 3600:.1f} h back-fill the predictive engine's history, not scored"
        + (
            f"; every replica placed on {sim_placement.source} (new nodes "
            f"+{physics.node_provision_s:g} s)"
            if sim_placement is not None
            else ""
        ),
        highlight=False,
    )
    with Progress(
        TextColumn("{task.description:>16}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks = {name: bar.add_task(name, total=1.0) for name in names}

        def on_progress(name: str, done: int, total: int) -> None:
            bar.update(tasks[name], completed=done / max(total, 1))

        runs = simulate(
            request_trace,
            model_profile,
            physics,
            names,
            seed=seed,
            warmup_s=warmup,
            on_progress=on_progress,
            placement=sim_placement,
        )

    _warn_if_capped(console, runs, model_profile)
    summary = build_summary(
        request_trace.describe(),
        runs[0].ttft_s.size,  # the requests replayed and scored, after the warm-up
        request_trace.duration_s - warmup,
        runs,
        warmup_s=warmup,
    )
    if sim_placement is not None:
        summary["placement"] = {
            "inventory": sim_placement.source,
            "need": need_summary(sim_placement.need),
            "node_provision_s": physics.node_provision_s,
        }
    try:
        paths = write_report(out, summary, runs)
    except OSError as exc:  # checked up front, but root, /proc or a full disk can still refuse
        console.print(f"[red]error:[/red] --out {out}: {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    if json_out:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    console.print(comparison_table(summary))
    placed = placement_table(summary)
    if placed is not None:
        console.print(placed)
    console.print(f"Report: [bold]{paths['report']}[/bold]")
    console.print(f"Summary: {paths['summary']}  Plots: {paths['capacity']}, {paths['ttft']}")


def _warn_if_capped(console: Console, runs: list, profile: ModelProfile) -> None:  # type: ignore[type-arg]
    """Every policy is helpless when the trace needs more replicas than the profile allows."""
    import numpy as np

    if not runs:
        return
    demand = runs[0].demand_replicas
    minute = max(1, round(60 / runs[0].tick_s))
    if demand.size < minute:
        return
    per_minute = np.convolve(demand, np.ones(minute) / minute, mode="valid")
    need = float(per_minute.max()) / profile.target_utilisation
    if need > profile.replicas.max:
        console.print(
            f"[yellow]warning:[/yellow] peak demand needs ~{need:,.0f} replicas at "
            f"{profile.target_utilisation:.0%} utilisation but the profile allows "
            f"replicas.max = {profile.replicas.max}: raise it or scale the trace down",
            highlight=False,
        )
