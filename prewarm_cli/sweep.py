"""`prewarm sweep`: every policy family over a grid of profile overrides, as frontiers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from autoscaler.profile import ProfileError
from prewarm_cli.inputs import check_out_dir, cli_profile
from prewarm_cli.options import (
    FormatOption,
    FromOption,
    LengthScaleOption,
    ProfileOption,
    RateScaleOption,
    UntilOption,
)
from prewarm_cli.replay_errors import replay_failures_reported

if TYPE_CHECKING:
    from simulations.sweep.cache import ResultCache
    from simulations.sweep.executor import SweepExecutor
    from simulations.sweep.plan import SweepPlan
    from simulations.sweep.run import SweepOutcome
    from simulations.sweep.tasks import PointResult, SweepTask

SWEEP_FAMILIES = ("predictive", "reactive-tokens", "dynamo-like", "oracle")


def sweep_command(
    trace: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="PATH", help="request trace or rate series, repeatable; omitted: bundled trace"
        ),
    ] = None,
    fmt: FormatOption = "azure",
    rate_scale: RateScaleOption = 1.0,
    length_scale: LengthScaleOption = 1.0,
    from_s: FromOption = None,
    until_s: UntilOption = None,
    policies: Annotated[
        str | None,
        typer.Option(
            help="comma-separated policy families (default: predictive, reactive-tokens, "
            "dynamo-like when available, oracle)"
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="PATH=VALUES",
            help="profile override, repeatable: path=start:stop:step (stop included), "
            "path=v1,v2,... or path=v; e.g. forecast.quantile=0.8,0.9,0.95",
        ),
    ] = None,
    profile: ProfileOption = None,
    seed: Annotated[int, typer.Option(min=0, help="seed for arrivals and cold-start jitter")] = 0,
    warmup_s: Annotated[
        float | None,
        typer.Option(
            help="back-filled into the predictive engine's history, not replayed or scored, s "
            "(default: one day, at most a quarter of each trace; 0: none)"
        ),
    ] = None,
    process: Annotated[str, typer.Option(help="rate series arrivals: poisson | gamma")] = "poisson",
    cv: Annotated[float, typer.Option(min=0.01, help="gamma inter-arrival CV")] = 1.0,
    max_requests: Annotated[
        int | None,
        typer.Option(min=1, help="rate series: keep only the earliest N synthesised requests"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="worker processes (default: every core)")
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            metavar="auto|ray://HOST:PORT",
            help="run each replay as a task on this Ray cluster instead of local processes "
            "(needs prewarm[ray]); auto: the cluster this machine belongs to, or RAY_ADDRESS",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="directory for sweep.json, frontier.png and cache/")
    ] = Path("out/sweep"),
) -> None:
    """Sweep policy families over profile overrides on one or more traces: frontiers of SLO
    attainment against GPU-hours, cached so a rerun replays only what is new."""
    from simulations.runner import POLICY_NAMES, parse_policy_names
    from simulations.sweep.cache import ResultCache, code_fingerprint
    from simulations.sweep.grid import build_grid
    from simulations.sweep.plan import load_traces, plan_sweep
    from simulations.sweep.ray_executor import check_address
    from simulations.sweep.tasks import TraceRef
    from simulations.traces.inputs import check_trace_options
    from simulations.traces.request_trace import TraceFormatError
    from simulations.traces.scale import TraceScale
    from simulations.traces.window import TraceWindow

    console = Console()
    try:
        if policies is None:
            names = [name for name in SWEEP_FAMILIES if name in POLICY_NAMES]
        else:
            names = parse_policy_names(policies)
        scale = TraceScale(rate_scale, length_scale)
        window = TraceWindow(from_s, until_s)
        check_trace_options(bool(trace), fmt, process, cv, max_requests, scale, window)
        paths = [str(path) for path in trace or []]
        repeated = sorted({path for path in paths if paths.count(path) > 1})
        if repeated:
            raise ValueError(f"--trace {', '.join(repeated)} given more than once")
        if ray_address is not None:
            if workers is not None:
                raise ValueError("--workers is for local processes: drop it with --ray-address")
            check_address(ray_address)
        base = cli_profile(profile)
        grid = build_grid(set_ or [], base)
        check_out_dir(out)
        refs = [
            TraceRef(
                path,
                fmt,
                seed,
                process,
                cv,
                max_requests,
                rate_scale=rate_scale,
                length_scale=length_scale,
                from_s=from_s,
                until_s=until_s,
            )
            for path in paths
        ] or [TraceRef(None, fmt, seed)]
        traces = load_traces(refs, warmup_s)
    except (ValueError, ProfileError, TraceFormatError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None

    plan = plan_sweep(traces, names, grid, base, seed=seed, code=code_fingerprint())
    executor, where = _executor(console, plan, ray_address, workers)
    console.print(_plan_text(plan, where), highlight=False)
    cache = ResultCache(out / "cache")
    try:
        with replay_failures_reported(console, out / "cache"):
            outcome = _run(console, plan, cache, executor)
    finally:
        if ray_address is not None:
            from simulations.sweep.ray_executor import disconnect

            disconnect()
    _report(console, outcome, out)


def _executor(
    console: Console, plan: SweepPlan, ray_address: str | None, workers: int | None
) -> tuple[SweepExecutor, str]:
    """Local processes, or the Ray cluster at `ray_address` (exit 2 naming the problem when
    Ray is missing or the cluster cannot be reached); with a phrase for the plan's line."""
    from simulations.sweep.executor import default_workers, local_executor

    if ray_address is None:
        n_workers = workers or default_workers()
        return local_executor(n_workers), f"{n_workers} workers"
    from simulations.sweep.ray_executor import RaySweepExecutor, RayUnavailable, connect

    try:
        ray = connect(ray_address)
    except (RayUnavailable, ValueError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    executor = RaySweepExecutor(ray, code=plan.code)
    return executor, f"Ray at {ray_address} ({executor.cpus} CPUs)"


def _plan_text(plan: SweepPlan, where: str) -> str:
    grid = " x ".join(f"{len(axis.values)} {axis.path}" for axis in plan.grid.axes)
    ignored = "; ".join(
        f"{family} ignores {', '.join(paths)}" for family, paths in plan.ignored.items() if paths
    )
    traces = ", ".join(
        f"{t.label} ({t.info['requests']:,} requests, {t.warmup_s / 3600:.1f} h warm-up)"
        for t in plan.traces
    )
    lines = [
        f"Sweep: {grid or 'no --set (the profile as given)'} on {traces}; "
        f"{', '.join(plan.families)}",
        f"{plan.requested} points, {len(plan.tasks)} distinct replays with the profile's "
        f"own point per family" + (f" ({ignored})" if ignored else "") + f"; {where}",
    ]
    return "\n".join(lines)


def _run(
    console: Console, plan: SweepPlan, cache: ResultCache, executor: SweepExecutor
) -> SweepOutcome:
    from simulations.sweep.run import run_sweep

    with Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        progress = bar.add_task("replays", total=len(plan.tasks), note="")
        counts = {"cached": 0, "run": 0}

        def on_result(task: SweepTask, result: PointResult, cached: bool) -> None:
            counts["cached" if cached else "run"] += 1
            bar.update(
                progress,
                advance=1,
                note=f"{counts['cached']} cached, {counts['run']} run; last: {task.family}",
            )

        return run_sweep(plan, executor, cache, on_result)


def _report(console: Console, outcome: SweepOutcome, out: Path) -> None:
    from simulations.sweep.plot import plot_frontier
    from simulations.sweep.report import frontier_table, needed_table, sweep_json, write_json
    from simulations.sweep.results import collect

    per_trace = collect(outcome)
    for results in per_trace:
        for family in outcome.plan.families:
            paths = [axis.path for axis in outcome.plan.grid.axes]
            console.print(frontier_table(results, family, paths))
            console.print()
        needed = needed_table(results)
        if needed is not None:
            console.print(needed)
            console.print()
    try:
        out.mkdir(parents=True, exist_ok=True)
        json_path = write_json(out / "sweep.json", sweep_json(outcome, per_trace))
        png_path = plot_frontier(per_trace, out / "frontier.png")
    except OSError as exc:
        console.print(f"[red]error:[/red] --out {out}: {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    console.print(
        f"{outcome.replayed} replays run, {outcome.cached} from the cache ({out / 'cache'}). "
        f"Points: [bold]{json_path}[/bold]  Frontier: [bold]{png_path}[/bold]",
        highlight=False,
    )
